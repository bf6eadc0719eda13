// Static files for GET / and the web UI: served from ApiOptions::static_dir, or the built-in
// live page (live_page.cc) when no directory is configured.
#pragma once

#include <string>
#include <string_view>

#include "doppel/api/http.h"

namespace doppel::api {

// Content type by file extension (.html .js .css .svg .png .json .glb .wasm ...);
// "application/octet-stream" for anything unknown.
std::string_view ContentTypeFor(std::string_view path);

// Serves `target` from `root`. "/" and directories serve index.html. Traversal-safe: segments
// "..", ".", dotfiles, and decoded '/', '\\' or NUL are refused (404), and the resolved file
// must lie under the canonical root (symlinks leading out are refused).
HttpResponse ServeStatic(const std::string& root, const ParsedTarget& target);

// The built-in page for GET / when static_dir is empty: lists twins and shows live values
// from the WebSocket stream.
std::string_view LivePageHtml();

}  // namespace doppel::api
