// The checks a daemon runs on its own credentials before it starts, shared with
// `ptun check-config --strict` so that both refuse (or warn about) exactly the same things.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "tls/credentials.hpp"

namespace ptun::tls {

// Private keys must not be readable by others. Group access is refused too unless the group is
// root's: ptun reads the key as root before it drops privileges, so no other group ever needs it
// (0640 root:root is accepted, 0640 root:ssl-cert is not). Errc::auth names the reason, with
// `what` naming the file ("" = "private key PATH").
Result<void> check_key_file_mode(const std::string& key_path, const std::string& what = "");

// Findings that do not stop a daemon but that an administrator must hear about: the own
// certificate does not chain to the configured CA (peers using the same PKI will refuse it), it
// or the CA is expired, not yet valid, or expires within `warn_days`.
std::vector<std::string> credential_warnings(Credentials& creds, int64_t now_unix, int warn_days = 30);

struct CheckedCredentials {
  std::shared_ptr<Credentials> creds;
  std::vector<std::string> warnings;
};
// The file that holds the private key: the key file, or a client profile holding key_pem.
struct KeyFile {
  std::string path, what;
};
// Key file mode, then Credentials::load (CA parses, key is P-256 and matches the certificate),
// then credential_warnings at the current time. The first error stops it.
Result<CheckedCredentials> load_checked_credentials(const Credentials::Source& ca, const Credentials::Source& cert,
                                                    const Credentials::Source& key, const KeyFile& key_file);
// All three from files.
Result<CheckedCredentials> load_checked_credentials(const std::string& ca_path, const std::string& cert_path,
                                                    const std::string& key_path);

}  // namespace ptun::tls
