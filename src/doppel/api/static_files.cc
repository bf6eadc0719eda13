#include "doppel/api/static_files.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace doppel::api {

namespace fs = std::filesystem;

std::string_view ContentTypeFor(std::string_view path) {
  size_t dot = path.rfind('.');
  size_t slash = path.rfind('/');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) {
    return "application/octet-stream";
  }
  std::string ext(path.substr(dot + 1));
  for (char& c : ext) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "png") return "image/png";
  if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
  if (ext == "ico") return "image/x-icon";
  if (ext == "json" || ext == "map") return "application/json";
  if (ext == "glb") return "model/gltf-binary";
  if (ext == "gltf") return "model/gltf+json";
  if (ext == "wasm") return "application/wasm";
  if (ext == "txt") return "text/plain; charset=utf-8";
  if (ext == "woff2") return "font/woff2";
  return "application/octet-stream";
}

namespace {

HttpResponse NotFoundResponse(const ParsedTarget& t) {
  return ErrorResponse(404, "not_found", "no file at " + t.path);
}

bool Under(const fs::path& root, const fs::path& p) {
  auto r = root.begin();
  auto q = p.begin();
  for (; r != root.end(); ++r, ++q) {
    if (q == p.end() || *r != *q) return false;
  }
  return true;
}

}  // namespace

HttpResponse ServeStatic(const std::string& root, const ParsedTarget& target) {
  std::error_code ec;
  fs::path canon_root = fs::canonical(root, ec);
  if (ec) return ErrorResponse(500, "internal", "static_dir is not readable");
  fs::path p = canon_root;
  for (const std::string& seg : target.segments) {
    if (seg.empty() || seg[0] == '.' || seg.find_first_of(std::string("/\\\0", 3)) != std::string::npos) {
      return NotFoundResponse(target);
    }
    p /= seg;
  }
  if (fs::is_directory(p, ec)) p /= "index.html";
  fs::path canon = fs::canonical(p, ec);
  if (ec || !Under(canon_root, canon) || !fs::is_regular_file(canon, ec)) return NotFoundResponse(target);
  std::ifstream in(canon, std::ios::binary);
  if (!in) return NotFoundResponse(target);
  std::ostringstream ss;
  ss << in.rdbuf();
  HttpResponse r;
  r.content_type = std::string(ContentTypeFor(canon.filename().string()));
  r.body = ss.str();
  return r;
}

}  // namespace doppel::api
