#include "metrics/exposition.hpp"

#include <cmath>
#include <cstdio>

namespace ptun::metrics {
namespace {

bool name_chars(std::string_view n, bool colon) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char b[64];
  // Integers (counters, byte counts) print exactly up to 2^53; others with full precision.
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0)
    std::snprintf(b, sizeof b, "%.0f", v);
  else
    std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

std::string escape_help(std::string_view h) {
  std::string out;
  for (char c : h) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

bool valid_metric_name(std::string_view n) { return name_chars(n, true); }
bool valid_label_name(std::string_view n) { return name_chars(n, false) && n.substr(0, 2) != "__"; }

std::string escape_label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void Exposition::add(Type type, std::string_view name, std::string_view help, double value, Labels labels) {
  if (!valid_metric_name(name)) return;
  for (const auto& l : labels)
    if (!valid_label_name(l.first)) return;
  for (auto& f : families_) {
    if (f.name != name) continue;
    if (f.type == type) f.samples.push_back({std::move(labels), value});
    return;
  }
  families_.push_back({std::string(name), std::string(help), type, {{std::move(labels), value}}});
}

std::string Exposition::text() const {
  std::string out;
  for (const auto& f : families_) {
    out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
    out += "# TYPE " + f.name + (f.type == Type::counter ? " counter\n" : " gauge\n");
    for (const auto& s : f.samples) {
      out += f.name;
      if (!s.labels.empty()) {
        out += "{";
        for (size_t i = 0; i < s.labels.size(); ++i) {
          if (i) out += ",";
          out += s.labels[i].first + "=\"" + escape_label_value(s.labels[i].second) + "\"";
        }
        out += "}";
      }
      out += " " + format_value(s.value) + "\n";
    }
  }
  return out;
}

}  // namespace ptun::metrics
