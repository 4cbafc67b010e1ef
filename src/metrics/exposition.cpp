#include "metrics/exposition.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

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

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char b[64];
  // Integers (counters, byte counts) print exactly up to 2^53; others in the fewest digits that
  // read back exactly (0.005, not 0.0050000000000000001: bucket bounds are read by people).
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {
    std::snprintf(b, sizeof b, "%.0f", v);
    return b;
  }
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(b, sizeof b, "%.*g", prec, v);
    if (std::strtod(b, nullptr) == v) break;
  }
  return b;
}

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

Exposition::Family* Exposition::family(Type type, std::string_view name, std::string_view help, const Labels& labels) {
  if (!valid_metric_name(name)) return nullptr;
  for (const auto& l : labels)
    if (!valid_label_name(l.first) || (type == Type::histogram && l.first == "le")) return nullptr;
  for (auto& f : families_)
    if (f.name == name) return f.type == type ? &f : nullptr;
  families_.push_back({std::string(name), std::string(help), type, {}});
  return &families_.back();
}

void Exposition::add(Type type, std::string_view name, std::string_view help, double value, Labels labels) {
  if (type == Type::histogram) return;   // histogram() builds those samples
  if (Family* f = family(type, name, help, labels)) f->samples.push_back({"", std::move(labels), value});
}

void Exposition::histogram(std::string_view name, std::string_view help, const Histogram& h, Labels labels) {
  Family* f = family(Type::histogram, name, help, labels);
  if (!f) return;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.counts().size(); ++i) {
    cumulative += h.counts()[i];
    Labels l = labels;
    l.emplace_back("le", i < h.bounds().size() ? format_value(h.bounds()[i]) : "+Inf");
    f->samples.push_back({"_bucket", std::move(l), double(cumulative)});
  }
  f->samples.push_back({"_sum", labels, h.sum()});
  f->samples.push_back({"_count", std::move(labels), double(h.count())});
}

std::string Exposition::text() const {
  std::string out;
  for (const auto& f : families_) {
    out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
    static const char* const kTypes[] = {" counter\n", " gauge\n", " histogram\n"};
    out += "# TYPE " + f.name + kTypes[static_cast<int>(f.type)];
    for (const auto& s : f.samples) {
      out += f.name + s.suffix;
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
