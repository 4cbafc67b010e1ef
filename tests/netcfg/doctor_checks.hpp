// The check of a doctor run (client or server) by name; fails the test when there is none.
#pragma once
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "netcfg/doctor.hpp"

namespace ptun::netcfg::doctor::test {

inline const Check& find(const std::vector<Check>& v, const std::string& name) {
  for (const auto& c : v)
    if (c.name == name) return c;
  FAIL("no check " << name);
  return v.front();
}

}  // namespace ptun::netcfg::doctor::test
