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

#include "metrics/histogram.hpp"

namespace ptun::metrics {

enum class Type { counter, gauge, histogram };
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
  // name_bucket{...,le="B"} (cumulative, one per bound, then le="+Inf"), name_sum, name_count.
  // `labels` must not hold "le" (the sample is then ignored, as an invalid label name is).
  void histogram(std::string_view name, std::string_view help, const Histogram& h, Labels labels = {});
  std::string text() const;

 private:
  struct Sample {
    const char* suffix;   // "", or _bucket/_sum/_count of a histogram
    Labels labels;
    double value;
  };
  // The family `name` of `type`, created with `help` if new; null on a type clash or bad names.
  struct Family;
  Family* family(Type type, std::string_view name, std::string_view help, const Labels& labels);
  struct Family {
    std::string name, help;
    Type type;
    std::vector<Sample> samples;
  };
  std::vector<Family> families_;
};

// Sample values and `le` bounds: integers exactly, others in the shortest text that reads back
// as the same double, NaN and +Inf/-Inf as the format spells them.
std::string format_value(double v);
// Label values escaped as the format says (backslash, double quote, newline).
std::string escape_label_value(std::string_view v);
// [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; labels without ':'.
bool valid_metric_name(std::string_view n);
bool valid_label_name(std::string_view n);

}  // namespace ptun::metrics
