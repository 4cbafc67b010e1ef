// The Prometheus text exposition format (version 0.0.4), pure: callers add samples in any order;
// text() groups them by metric family with one HELP and TYPE line each, as the format requires.
//
//   # HELP ptun_client_rx_bytes_total Bytes received through the tunnel.
//   # TYPE ptun_client_rx_bytes_total counter
//   ptun_client_rx_bytes_total 1234
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ptun::metrics {

enum class Type { counter, gauge };
using Labels = std::vector<std::pair<std::string, std::string>>;

class Exposition {
 public:
  // Adds one sample. A family's name, help and type are fixed by its first sample; a later sample
  // with the same name but another type is ignored (a programming error, kept out of the output so
  // the text stays valid). Counter names should end in _total.
  void add(Type type, std::string_view name, std::string_view help, double value, Labels labels = {});
  void counter(std::string_view name, std::string_view help, double value, Labels labels = {}) {
    add(Type::counter, name, help, value, std::move(labels));
  }
  void gauge(std::string_view name, std::string_view help, double value, Labels labels = {}) {
    add(Type::gauge, name, help, value, std::move(labels));
  }
  std::string text() const;

 private:
  struct Sample {
    Labels labels;
    double value;
  };
  struct Family {
    std::string name, help;
    Type type;
    std::vector<Sample> samples;
  };
  std::vector<Family> families_;
};

// Label values escaped as the format says (backslash, double quote, newline).
std::string escape_label_value(std::string_view v);
// [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; labels without ':'.
bool valid_metric_name(std::string_view n);
bool valid_label_name(std::string_view n);

}  // namespace ptun::metrics
