#include "doppel/platform/pubsub.h"

#include <charconv>

namespace doppel::platform {

bool TopicMatches(std::string_view filter, std::string_view topic) {
  size_t f = 0, t = 0;
  while (f < filter.size()) {
    size_t fe = filter.find('/', f);
    if (fe == std::string_view::npos) fe = filter.size();
    std::string_view flevel = filter.substr(f, fe - f);
    if (flevel == "#") return true;  // matches the parent level and everything below
    if (t > topic.size()) return false;
    size_t te = topic.find('/', t);
    if (te == std::string_view::npos) te = topic.size();
    std::string_view tlevel = topic.substr(t, te - t);
    if (flevel != "+" && flevel != tlevel) return false;
    f = fe + 1;
    t = te + 1;
    if (fe == filter.size()) return te == topic.size();
  }
  return t > topic.size();
}

Status ParseBrokerUrl(const std::string& url, MqttOptions* opts) {
  std::string_view s = url;
  constexpr std::string_view kScheme = "mqtt://";
  if (s.substr(0, kScheme.size()) == kScheme) {
    s.remove_prefix(kScheme.size());
  } else if (s.find("://") != std::string_view::npos) {
    return InvalidArgument("broker url '" + url + "': only mqtt:// is supported");
  }
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  if (s.empty()) return InvalidArgument("broker url '" + url + "': missing host");
  size_t colon = s.rfind(':');
  int port = 1883;
  std::string_view host = s;
  if (colon != std::string_view::npos) {
    host = s.substr(0, colon);
    std::string_view p = s.substr(colon + 1);
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (ec != std::errc() || ptr != p.data() + p.size() || port <= 0 || port > 65535) {
      return InvalidArgument("broker url '" + url + "': bad port '" + std::string(p) + "'");
    }
  }
  if (host.empty()) return InvalidArgument("broker url '" + url + "': missing host");
  opts->host = std::string(host);
  opts->port = port;
  return Status::Ok();
}

}  // namespace doppel::platform
