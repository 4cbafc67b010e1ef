// `ptun pki revoke/list/crl`: the revocation index and a CRL signed by the CA.
// mbedTLS 3.6 parses CRLs but has no CRL writer, so the TBSCertList DER is built here (forward,
// into a vector: the structure is small and fixed) and signed with mbedtls_pk_sign.
#include <dirent.h>
#include <fcntl.h>
#include <mbedtls/base64.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "common/log.hpp"
#include "common/utc_time.hpp"
#include "tls/mbedtls_util.hpp"
#include "tls/pki.hpp"

namespace ptun::tls::pki {

namespace {

constexpr int64_t kBackdateSeconds = 3600;
constexpr size_t kMaxIndexLines = 100000;  // bound on what revoked.txt may hold

// --- forward DER -------------------------------------------------------------------------------

void put_len(std::vector<uint8_t>& o, size_t n) {
  if (n < 0x80) {
    o.push_back(uint8_t(n));
    return;
  }
  uint8_t b[sizeof(size_t)];
  size_t k = 0;
  for (size_t v = n; v != 0; v >>= 8) b[k++] = uint8_t(v & 0xff);
  o.push_back(uint8_t(0x80 | k));
  while (k > 0) o.push_back(b[--k]);
}

std::vector<uint8_t> tlv(uint8_t tag, const std::vector<uint8_t>& v) {
  std::vector<uint8_t> o;
  o.reserve(v.size() + 6);
  o.push_back(tag);
  put_len(o, v.size());
  o.insert(o.end(), v.begin(), v.end());
  return o;
}

void append(std::vector<uint8_t>& o, const std::vector<uint8_t>& v) {
  o.insert(o.end(), v.begin(), v.end());
}

constexpr uint8_t kSeq = 0x30, kInt = 0x02, kOid = 0x06, kOctets = 0x04, kBits = 0x03;

std::vector<uint8_t> der_uint(uint64_t v) {
  std::vector<uint8_t> b;
  do {
    b.insert(b.begin(), uint8_t(v & 0xff));
    v >>= 8;
  } while (v != 0);
  if (b[0] & 0x80) b.insert(b.begin(), 0);
  return tlv(kInt, b);
}

// UTCTime through 2049, GeneralizedTime from 2050 on (RFC 5280 5.1.2.4).
std::vector<uint8_t> der_time(int64_t t) {
  const UtcTime tm = utc_from_unix(t);
  const int year = int(tm.year);
  char s[32];
  if (year < 2050) {
    std::snprintf(s, sizeof s, "%02d%02d%02d%02d%02d%02dZ", year % 100, tm.mon, tm.day,
                  tm.hour, tm.min, tm.sec);
  } else {
    std::snprintf(s, sizeof s, "%04d%02d%02d%02d%02d%02dZ", year, tm.mon, tm.day, tm.hour,
                  tm.min, tm.sec);
  }
  return tlv(year < 2050 ? 0x17 : 0x18, std::vector<uint8_t>(s, s + std::strlen(s)));
}

// AlgorithmIdentifier ecdsa-with-SHA256 (1.2.840.10045.4.3.2), parameters absent (RFC 5758).
std::vector<uint8_t> ecdsa_sha256_alg() {
  return tlv(kSeq, tlv(kOid, {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}));
}

// --- files -------------------------------------------------------------------------------------

Error mbed_error(const std::string& what, int ret) {
  return Error(Errc::io, what + ": " + detail::mbedtls_error_text(ret));
}

Result<void> write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return Error::from_errno("create " + tmp, errno);
  const char* p = text.data();
  size_t n = text.size();
  Result<void> r = ok();
  while (n > 0 && r.ok()) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) r = Error::from_errno("write " + tmp, errno);
    else {
      p += w;
      n -= size_t(w);
    }
  }
  if (r.ok() && ::fsync(fd) != 0) r = Error::from_errno("fsync " + tmp, errno);
  ::close(fd);
  if (r.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) r = Error::from_errno("rename " + tmp, errno);
  if (!r.ok()) ::unlink(tmp.c_str());
  return r;
}

struct IndexLine {
  std::string serial;
  int64_t when = 0;
  std::string name;
};

// A missing index is an empty one; malformed lines are skipped with a warning, never fatal.
std::vector<IndexLine> read_index(const std::string& dir) {
  std::vector<IndexLine> out;
  std::ifstream in(dir + "/revoked.txt");
  std::string line;
  while (out.size() < kMaxIndexLines && std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    IndexLine e;
    if (!(ls >> e.serial >> e.when) || !parse_serial_hex(e.serial).ok()) {
      LOG_WARN("pki: %s/revoked.txt: skipping malformed line", dir.c_str());
      continue;
    }
    ls >> e.name;
    out.push_back(std::move(e));
  }
  return out;
}

using detail::Crt;
using detail::PkKey;


bool file_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string pem_wrap(const std::vector<uint8_t>& der, const char* label) {
  size_t olen = 0;
  mbedtls_base64_encode(nullptr, 0, &olen, der.data(), der.size());
  std::string b64(olen, '\0');
  mbedtls_base64_encode(reinterpret_cast<unsigned char*>(b64.data()), b64.size(), &olen,
                        der.data(), der.size());
  b64.resize(olen);
  std::string out = std::string("-----BEGIN ") + label + "-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  return out + "-----END " + label + "-----\n";
}

}  // namespace

std::vector<uint8_t> encode_crl_tbs(const std::vector<uint8_t>& issuer_der, int64_t this_update,
                                    int64_t next_update, uint64_t crl_number,
                                    const std::vector<RevokedEntry>& entries) {
  std::vector<uint8_t> body;
  append(body, der_uint(1));  // v2
  append(body, ecdsa_sha256_alg());
  append(body, issuer_der);
  append(body, der_time(this_update));
  append(body, der_time(next_update));
  if (!entries.empty()) {
    std::vector<uint8_t> list;
    for (const auto& e : entries) {
      std::vector<uint8_t> one = tlv(kInt, e.serial);
      append(one, der_time(e.revoked_at));
      append(list, tlv(kSeq, one));
    }
    append(body, tlv(kSeq, list));
  }
  // crlExtensions [0] EXPLICIT SEQUENCE OF Extension { cRLNumber (2.5.29.20) }
  std::vector<uint8_t> ext = tlv(kOid, {0x55, 0x1d, 0x14});
  append(ext, tlv(kOctets, der_uint(crl_number)));
  append(body, tlv(0xa0, tlv(kSeq, tlv(kSeq, ext))));
  return tlv(kSeq, body);
}

std::string serial_hex(const uint8_t* p, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += kHex[p[i] >> 4];
    s += kHex[p[i] & 0xf];
  }
  return s;
}

Result<std::vector<uint8_t>> parse_serial_hex(std::string_view s) {
  std::string h;
  for (char c : s) {
    if (c == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return Error(Errc::invalid_argument, "not a hex serial: '" + std::string(s) + "'");
    }
    h += char(std::tolower(static_cast<unsigned char>(c)));
  }
  if (h.empty() || h.size() > 40) {
    return Error(Errc::invalid_argument, "a serial is 1..20 bytes of hex");
  }
  if (h.size() % 2) h.insert(h.begin(), '0');
  std::vector<uint8_t> b;
  for (size_t i = 0; i < h.size(); i += 2) b.push_back(uint8_t(std::stoul(h.substr(i, 2), nullptr, 16)));
  return b;
}

Result<void> write_crl(const std::string& dir) {
  const std::string key_path = dir + "/ca.key", crt_path = dir + "/ca.crt";
  if (!file_exists(key_path) || !file_exists(crt_path)) {
    return Error(Errc::not_found, "no CA in " + dir + " (run `ptun pki init " + dir + "` first)");
  }
  SystemRng rng;
  PkKey key;
  Crt ca;
  int ret = mbedtls_pk_parse_keyfile(&key.pk, key_path.c_str(), nullptr, detail::rng_fill, &rng);
  if (ret != 0) return mbed_error("reading " + key_path, ret);
  ret = mbedtls_x509_crt_parse_file(&ca.crt, crt_path.c_str());
  if (ret != 0) return mbed_error("reading " + crt_path, ret);
  if (mbedtls_pk_check_pair(&ca.crt.pk, &key.pk, detail::rng_fill, &rng) != 0) {
    return Error(Errc::auth, key_path + " does not belong to " + crt_path);
  }

  std::vector<RevokedEntry> entries;
  for (const auto& l : read_index(dir)) entries.push_back({*parse_serial_hex(l.serial), l.when});
  const int64_t now = int64_t(::time(nullptr));
  const std::vector<uint8_t> issuer(ca.crt.subject_raw.p, ca.crt.subject_raw.p + ca.crt.subject_raw.len);
  // cRLNumber must grow with each CRL; the signing time does, to the second.
  const std::vector<uint8_t> tbs =
      encode_crl_tbs(issuer, now - kBackdateSeconds, detail::x509_time_to_unix(ca.crt.valid_to), uint64_t(now),
                     entries);

  unsigned char hash[32];
  if ((ret = mbedtls_sha256(tbs.data(), tbs.size(), hash, 0)) != 0) return mbed_error("sha256", ret);
  unsigned char sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
  size_t sig_len = 0;
  ret = mbedtls_pk_sign(&key.pk, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, sizeof sig, &sig_len,
                        detail::rng_fill, &rng);
  if (ret != 0) return mbed_error("signing the CRL", ret);

  std::vector<uint8_t> bits{0};  // no unused bits
  bits.insert(bits.end(), sig, sig + sig_len);
  std::vector<uint8_t> body = tbs;
  append(body, ecdsa_sha256_alg());
  append(body, tlv(kBits, bits));
  return write_file_atomic(dir + "/crl.pem", pem_wrap(tlv(kSeq, body), "X509 CRL"));
}

Result<std::string> revoke(const std::string& dir, const std::string& name_or_serial,
                           bool* already) {
  std::string serial, name = "-";
  const std::string crt_path = dir + "/" + name_or_serial + ".crt";
  if (is_safe_name(name_or_serial) && name_or_serial != "ca" && file_exists(crt_path)) {
    Crt c;
    int ret = mbedtls_x509_crt_parse_file(&c.crt, crt_path.c_str());
    if (ret != 0) return mbed_error("reading " + crt_path, ret);
    serial = serial_hex(c.crt.serial.p, c.crt.serial.len);
    name = name_or_serial;
  } else {
    auto s = parse_serial_hex(name_or_serial);
    if (!s) {
      return Error(Errc::not_found, "no certificate " + crt_path + " and '" + name_or_serial +
                                        "' is not a hex serial");
    }
    serial = serial_hex(s->data(), s->size());
  }
  *already = false;
  for (const auto& l : read_index(dir)) {
    if (l.serial == serial) *already = true;
  }
  if (!*already) {
    const std::string path = dir + "/revoked.txt";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return Error::from_errno("open " + path, errno);
    const std::string line = serial + " " + std::to_string(int64_t(::time(nullptr))) + " " + name + "\n";
    const bool ok_write = ::write(fd, line.data(), line.size()) == ssize_t(line.size()) && ::fsync(fd) == 0;
    const int err = errno;
    ::close(fd);
    if (!ok_write) return Error::from_errno("write " + path, err);
  }
  if (auto r = write_crl(dir); !r) return r.error();
  return serial;
}

Result<int64_t> cert_not_after(const std::string& path, const std::string& pem) {
  Crt c;
  if (!pem.empty()) {
    // mbedTLS takes PEM with its terminating NUL counted.
    if (mbedtls_x509_crt_parse(&c.crt, reinterpret_cast<const unsigned char*>(pem.c_str()), pem.size() + 1) != 0)
      return Error(Errc::io, "cert_pem: not a certificate");
    return detail::x509_time_to_unix(c.crt.valid_to);
  }
  if (mbedtls_x509_crt_parse_file(&c.crt, path.c_str()) != 0) return Error(Errc::io, path + ": not a certificate");
  return detail::x509_time_to_unix(c.crt.valid_to);
}

Result<std::vector<CertInfo>> list(const std::string& dir) {
  const auto index = read_index(dir);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Error::from_errno("opendir " + dir, errno);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string f = e->d_name;
    if (f.size() > 4 && f.compare(f.size() - 4, 4, ".crt") == 0 && f != "ca.crt") {
      names.push_back(f.substr(0, f.size() - 4));
    }
    errno = 0;
  }
  const int read_errno = errno;   // readdir returns null at the end and on an error
  ::closedir(d);
  if (read_errno != 0) return Error::from_errno("readdir " + dir, read_errno);
  std::sort(names.begin(), names.end());
  std::vector<CertInfo> out;
  std::vector<bool> seen(index.size(), false);
  for (const auto& n : names) {
    Crt c;
    if (mbedtls_x509_crt_parse_file(&c.crt, (dir + "/" + n + ".crt").c_str()) != 0) {
      LOG_WARN("pki: %s/%s.crt does not parse; not listed", dir.c_str(), n.c_str());
      continue;
    }
    CertInfo ci{n, serial_hex(c.crt.serial.p, c.crt.serial.len), detail::x509_time_to_unix(c.crt.valid_to), false,
                detail::fingerprint_of(&c.crt)};
    for (size_t i = 0; i < index.size(); ++i) {
      if (index[i].serial == ci.serial) ci.revoked = seen[i] = true;
    }
    out.push_back(std::move(ci));
  }
  for (size_t i = 0; i < index.size(); ++i) {
    if (!seen[i]) out.push_back({index[i].name == "-" ? "?" : index[i].name, index[i].serial, 0, true, std::nullopt});
  }
  return out;
}

Result<Fingerprint> cert_fingerprint(const std::string& crt_path) {
  Crt c;
  int ret = mbedtls_x509_crt_parse_file(&c.crt, crt_path.c_str());
  if (ret == MBEDTLS_ERR_PK_FILE_IO_ERROR || ret == MBEDTLS_ERR_X509_FILE_IO_ERROR)
    return Error(Errc::io, "cannot read " + crt_path);
  if (ret != 0) return Error(Errc::invalid_argument, crt_path + ": not a certificate (" + detail::mbedtls_error_text(ret) + ")");
  return detail::fingerprint_of(&c.crt);
}

}  // namespace ptun::tls::pki
