#include "tls/credential_checks.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <ctime>

#include "common/utc_time.hpp"
#include "tls/mbedtls_util.hpp"

namespace ptun::tls {

Result<void> check_key_file_mode(const std::string& key, const std::string& what_in) {
  const std::string what = what_in.empty() ? "private key " + key : what_in;
  struct stat st;
  if (::stat(key.c_str(), &st) < 0) return Error::from_errno("cannot stat key " + key, errno);
  if (st.st_mode & (S_IROTH | S_IWOTH)) return Error(Errc::auth, what + " is world-accessible (chmod 600 it)");
  if ((st.st_mode & (S_IRGRP | S_IWGRP)) && st.st_gid != 0)
    return Error(Errc::auth, what + " is accessible by group " + std::to_string(st.st_gid) + " (chmod 600 it)");
  return {};
}

namespace {

void validity(const mbedtls_x509_crt& c, const std::string& what, int64_t now, int warn_days,
              std::vector<std::string>* out) {
  int64_t from = detail::x509_time_to_unix(c.valid_from), to = detail::x509_time_to_unix(c.valid_to);
  if (now < from)
    out->push_back(what + " is not valid before " + utc_day_text(from) + " (check the clock)");
  else if (now >= to)
    out->push_back(what + " expired on " + utc_day_text(to));
  else if (to - now < int64_t(warn_days) * 86400)
    out->push_back(what + " expires on " + utc_day_text(to) + " (in " + std::to_string((to - now) / 86400) +
                   " days)");
}

}  // namespace

std::vector<std::string> credential_warnings(Credentials& creds, int64_t now, int warn_days) {
  std::vector<std::string> out;
  // Chain only: time and usage are reported separately (and more precisely) below.
  uint32_t flags = 0;
  int ret = mbedtls_x509_crt_verify(creds.cert(), creds.ca(), nullptr, nullptr, &flags, nullptr, nullptr);
  constexpr uint32_t kTimeFlags = MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE;
  if (ret != 0 && (flags & ~kTimeFlags) != 0)
    out.push_back("the certificate does not chain to the configured CA (" +
                  detail::verify_failure_text(flags & ~kTimeFlags, "") + "): peers of this CA will refuse it");
  validity(*creds.cert(), "the certificate", now, warn_days, &out);
  for (const mbedtls_x509_crt* c = creds.ca(); c && c->raw.p; c = c->next) validity(*c, "the CA", now, warn_days, &out);
  return out;
}

Result<CheckedCredentials> load_checked_credentials(const Credentials::Source& ca, const Credentials::Source& cert,
                                                    const Credentials::Source& key, const KeyFile& key_file) {
  if (auto r = check_key_file_mode(key_file.path, key_file.what); !r) return r.error();
  auto creds = Credentials::load(ca, cert, key);
  if (!creds) return creds.error();
  auto warnings = credential_warnings(**creds, int64_t(::time(nullptr)));
  return CheckedCredentials{std::move(*creds), std::move(warnings)};
}

Result<CheckedCredentials> load_checked_credentials(const std::string& ca_path, const std::string& cert_path,
                                                    const std::string& key_path) {
  return load_checked_credentials(Credentials::Source{ca_path, "", ""}, Credentials::Source{cert_path, "", ""},
                                  Credentials::Source{key_path, "", ""}, KeyFile{key_path, ""});
}

}  // namespace ptun::tls
