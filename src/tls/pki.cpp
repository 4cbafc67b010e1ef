// `ptun pki`: a CA and certificates written with mbedTLS's X.509 writer.
//
// File discipline: a private key is created with open(O_CREAT|O_EXCL, 0600), so it is never
// readable by others even for a moment and an existing key is never overwritten (the O_EXCL is
// also what makes two concurrent `issue NAME` calls safe). Certificates are public: they are
// written to a temporary file and renamed into place. If writing the certificate fails, the key
// this call created is removed again, so a failed call can simply be retried.
#include <fcntl.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "common/log.hpp"
#include "common/utc_time.hpp"
#include "tls/mbedtls_util.hpp"
#include "tls/pki.hpp"

namespace ptun::tls::pki {

namespace {

constexpr size_t kPemBufSize = 4096;  // a P-256 certificate with 64 SANs is well under 4 KiB
constexpr int64_t kBackdateSeconds = 3600;  // tolerate peers whose clock is a little behind

Error mbed_error(const std::string& what, int ret) {
  return Error(Errc::io, what + ": " + detail::mbedtls_error_text(ret));
}

// --- mbedTLS contexts with destructors ------------------------------------------------------

// CTR_DRBG seeded (and reseeded) from the injected Rng, so tests can be deterministic.
class Drbg {
 public:
  Drbg() { mbedtls_ctr_drbg_init(&ctx_); }
  ~Drbg() { mbedtls_ctr_drbg_free(&ctx_); }
  Drbg(const Drbg&) = delete;
  Drbg& operator=(const Drbg&) = delete;

  Result<void> seed(Rng& rng) {
    static constexpr unsigned char kPersonal[] = "ptun pki";
    int ret = mbedtls_ctr_drbg_seed(&ctx_, &Drbg::entropy, &rng, kPersonal, sizeof kPersonal - 1);
    if (ret != 0) return mbed_error("seeding CTR_DRBG", ret);
    return ok();
  }
  void* ctx() { return &ctx_; }
  static int random(void* p, unsigned char* out, size_t n) {
    return mbedtls_ctr_drbg_random(p, out, n);
  }

 private:
  static int entropy(void* rng, unsigned char* out, size_t n) {
    static_cast<Rng*>(rng)->fill(out, n);
    return 0;
  }
  mbedtls_ctr_drbg_context ctx_;
};

using detail::Crt;
using detail::PkKey;

// The writer's subject and issuer lists are pointed at nodes this file owns (see Names below)
// instead of being parsed from "CN=..." strings: mbedTLS's string parser cannot reproduce the
// CA's exact subject encoding. They are unhooked before the free, which would otherwise free()
// them (detail::set_writer_names: the fields are private in mbedTLS 3).
struct CrtWriter {
  mbedtls_x509write_cert w;
  CrtWriter() { mbedtls_x509write_crt_init(&w); }
  ~CrtWriter() {
    detail::set_writer_names(&w, nullptr, nullptr);
    mbedtls_x509write_crt_free(&w);
  }
  CrtWriter(const CrtWriter&) = delete;
  CrtWriter& operator=(const CrtWriter&) = delete;
};

// A buffer for private key material, wiped when it goes away.
struct SecretBuf {
  std::vector<unsigned char> b;
  explicit SecretBuf(size_t n) : b(n, 0) {}
  ~SecretBuf() { mbedtls_platform_zeroize(b.data(), b.size()); }
};

// A distinguished name as a writer list. mbedtls' writer emits the list head LAST, so the nodes
// are linked in reverse of the DER order. The nodes borrow their bytes (the CN string or a parsed
// certificate); the Names object must not outlive them.
struct Names {
  std::vector<mbedtls_asn1_named_data> nodes;
  mbedtls_asn1_named_data* head() { return nodes.empty() ? nullptr : &nodes.back(); }
  void link() {
    for (size_t i = 1; i < nodes.size(); ++i) nodes[i].next = &nodes[i - 1];
  }
};

Names common_name(const std::string& cn) {
  static constexpr char kCnOid[] = MBEDTLS_OID_AT_CN;
  Names n;
  mbedtls_asn1_named_data d{};
  d.oid.tag = MBEDTLS_ASN1_OID;
  d.oid.len = sizeof kCnOid - 1;
  d.oid.p = reinterpret_cast<unsigned char*>(const_cast<char*>(kCnOid));
  d.val.tag = MBEDTLS_ASN1_UTF8_STRING;
  d.val.len = cn.size();
  d.val.p = reinterpret_cast<unsigned char*>(const_cast<char*>(cn.data()));
  n.nodes.push_back(d);
  n.link();
  return n;
}

// The CA's subject, attribute by attribute with its original string types, so the issued
// certificate's issuer is byte-identical to it (OpenSSL compares names canonically, but other
// verifiers compare bytes). Multi-valued RDNs are not reproducible with mbedTLS's writer.
Result<Names> copy_subject(const mbedtls_x509_crt& ca) {
  Names n;
  for (const mbedtls_x509_name* a = &ca.subject; a != nullptr; a = a->next) {
    if (detail::continues_rdn(*a)) return Error(Errc::unsupported, "CA subject has a multi-valued RDN");
    if (a->oid.p == nullptr) continue;  // an empty subject parses to one blank node
    mbedtls_asn1_named_data d{};
    d.oid = a->oid;
    d.val = a->val;
    n.nodes.push_back(d);
  }
  if (n.nodes.empty()) return Error(Errc::auth, "CA certificate has an empty subject");
  n.link();
  return n;
}

// --- time ------------------------------------------------------------------------------------

// mbedTLS takes validity as "YYYYMMDDhhmmss" in UTC.
std::string x509_time(int64_t t) {
  const UtcTime u = utc_from_unix(t);
  char s[80];
  std::snprintf(s, sizeof s, "%04lld%02d%02d%02d%02d%02d", (long long)u.year, u.mon, u.day, u.hour, u.min,
                u.sec);
  return s;
}


// --- keys and certificates -------------------------------------------------------------------

Result<void> generate_p256(PkKey& key, Drbg& drbg) {
  int ret = mbedtls_pk_setup(&key.pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
  if (ret != 0) return mbed_error("pk_setup", ret);
  ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key.pk), &Drbg::random,
                            drbg.ctx());
  if (ret != 0) return mbed_error("generating the P-256 key", ret);
  return ok();
}

// 16 random bytes, top bit cleared (serials are positive INTEGERs) and the next one set, so the
// DER is always exactly 16 octets — within RFC 5280's 20 and never zero.
Result<void> set_random_serial(CrtWriter& cw, Drbg& drbg) {
  unsigned char b[16];
  int ret = Drbg::random(drbg.ctx(), b, sizeof b);
  if (ret != 0) return mbed_error("drawing the serial", ret);
  b[0] = (b[0] & 0x7f) | 0x40;
  ret = mbedtls_x509write_crt_set_serial_raw(&cw.w, b, sizeof b);
  if (ret != 0) return mbed_error("setting the serial", ret);
  return ok();
}

// Subject and authority key identifiers (RFC 5280 4.2.1.1-2). A new key's identifier follows RFC
// 7093's method: the leftmost 160 bits of the SHA-256 of the subjectPublicKey (mbedTLS's own
// helpers hash with SHA-1, which ptun's mbedTLS leaves out). The authority identifier repeats the
// issuer certificate's own SKI when it has one (an OpenSSL CA's is SHA-1 based): strict verifiers
// match the two bytes for bytes.
int key_identifier(mbedtls_pk_context& pk, unsigned char id[20]) {
  unsigned char der[160];
  unsigned char* p = der + sizeof der;
  int len = mbedtls_pk_write_pubkey(&p, der, &pk);  // the raw point, written backwards
  if (len < 0) return len;
  unsigned char digest[32];
  int ret = mbedtls_sha256(p, size_t(len), digest, 0);
  std::memcpy(id, digest, 20);
  return ret;
}

int set_key_identifiers(CrtWriter& cw, mbedtls_pk_context& subject, mbedtls_pk_context& issuer,
                        const mbedtls_x509_crt* issuer_crt) {
  unsigned char id[20];
  unsigned char buf[80];  // room for an issuer SKI of up to 64 bytes
  // SubjectKeyIdentifier ::= OCTET STRING
  int ret = key_identifier(subject, id);
  if (ret != 0) return ret;
  unsigned char* p = buf + sizeof buf;
  int len = 0, n;
  if ((n = mbedtls_asn1_write_octet_string(&p, buf, id, sizeof id)) < 0) return n;
  len = n;
  ret = mbedtls_x509write_crt_set_extension(&cw.w, MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER,
                                            MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER), 0,
                                            p, size_t(len));
  if (ret != 0) return ret;
  // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING }
  const unsigned char* aki = id;
  size_t aki_len = sizeof id;
  if (issuer_crt != nullptr && issuer_crt->subject_key_id.len > 0 &&
      issuer_crt->subject_key_id.len <= 64) {
    aki = issuer_crt->subject_key_id.p;
    aki_len = issuer_crt->subject_key_id.len;
  } else if ((ret = key_identifier(issuer, id)) != 0) {
    return ret;
  }
  p = buf + sizeof buf;
  if ((n = mbedtls_asn1_write_raw_buffer(&p, buf, aki, aki_len)) < 0) return n;
  len = n;
  if ((n = mbedtls_asn1_write_len(&p, buf, size_t(len))) < 0) return n;
  len += n;
  if ((n = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0)) < 0) return n;
  len += n;
  if ((n = mbedtls_asn1_write_len(&p, buf, size_t(len))) < 0) return n;
  len += n;
  if ((n = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) < 0)
    return n;
  len += n;
  return mbedtls_x509write_crt_set_extension(
      &cw.w, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER,
      MBEDTLS_OID_SIZE(MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER), 0, p, size_t(len));
}

Result<std::string> write_crt_pem(CrtWriter& cw, Drbg& drbg) {
  std::vector<unsigned char> pem(kPemBufSize);
  int ret = mbedtls_x509write_crt_pem(&cw.w, pem.data(), pem.size(), &Drbg::random, drbg.ctx());
  if (ret != 0) return mbed_error("writing the certificate", ret);
  return std::string(reinterpret_cast<const char*>(pem.data()));
}

// --- files -----------------------------------------------------------------------------------

Result<void> write_all(int fd, const std::string& path, const unsigned char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Error::from_errno("write " + path, errno);
    p += w;
    n -= size_t(w);
  }
  if (::fsync(fd) != 0) return Error::from_errno("fsync " + path, errno);
  return ok();
}

// Creates `path` exclusively with mode 0600 (fchmod: a umask must not change it either way).
Result<void> write_exclusive_0600(const std::string& path, const unsigned char* p, size_t n) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 && errno == EEXIST) return Error(Errc::exists, path + " already exists");
  if (fd < 0) return Error::from_errno("create " + path, errno);
  Result<void> r = ::fchmod(fd, 0600) == 0 ? ok() : Error::from_errno("chmod " + path, errno);
  if (r.ok()) r = write_all(fd, path, p, n);
  ::close(fd);
  if (!r.ok()) ::unlink(path.c_str());
  return r;
}

Result<void> write_private_key(const std::string& path, PkKey& key) {
  SecretBuf pem(kPemBufSize);
  int ret = mbedtls_pk_write_key_pem(&key.pk, pem.b.data(), pem.b.size());
  if (ret != 0) return mbed_error("encoding the private key", ret);
  // The PEM writer NUL-terminates; the buffer is zero-filled, so strnlen stays inside it.
  const size_t len = ::strnlen(reinterpret_cast<const char*>(pem.b.data()), pem.b.size());
  return write_exclusive_0600(path, pem.b.data(), len);
}

// Public file, replaced atomically: a stale NAME.crt whose key was deleted is superseded.
Result<void> write_public_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return Error::from_errno("create " + tmp, errno);
  auto r = write_all(fd, tmp, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  ::close(fd);
  if (r.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    r = Error::from_errno("rename " + tmp, errno);
  }
  if (!r.ok()) ::unlink(tmp.c_str());
  return r;
}

// Key first (O_EXCL claims the name), then the certificate; undo the key if that fails.
Result<void> write_pair(const std::string& key_path, PkKey& key, const std::string& crt_path,
                        const std::string& crt_pem) {
  auto r = write_private_key(key_path, key);
  if (!r.ok()) return r;
  r = write_public_file(crt_path, crt_pem);
  if (!r.ok()) ::unlink(key_path.c_str());
  return r;
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

Result<void> make_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return ok();
  if (errno != EEXIST) return Error::from_errno("mkdir " + dir, errno);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return Error::from_errno("stat " + dir, errno);
  if (!S_ISDIR(st.st_mode)) return Error(Errc::exists, dir + " exists and is not a directory");
  return ok();
}

bool is_printable_ascii(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// --- loading the CA --------------------------------------------------------------------------

struct Ca {
  PkKey key;
  Crt crt;
};

Result<void> load_ca(const std::string& dir, Ca& ca) {
  const std::string key_path = dir + "/ca.key";
  const std::string crt_path = dir + "/ca.crt";
  if (!file_exists(key_path) || !file_exists(crt_path)) {
    return Error(Errc::not_found, "no CA in " + dir + " (run `ptun pki init " + dir + "` first)");
  }
  struct stat st;
  if (::stat(key_path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    LOG_WARN("pki: %s is accessible by group or others (mode %04o); it should be 0600",
             key_path.c_str(), unsigned(st.st_mode & 07777));
  }
  SystemRng blinding;
  int ret = mbedtls_pk_parse_keyfile(&ca.key.pk, key_path.c_str(), nullptr, detail::rng_fill,
                                     &blinding);
  if (ret != 0) return mbed_error("reading " + key_path, ret);
  ret = mbedtls_x509_crt_parse_file(&ca.crt.crt, crt_path.c_str());
  if (ret != 0) return mbed_error("reading " + crt_path, ret);
  if (!detail::is_ca(ca.crt.crt)) return Error(Errc::auth, crt_path + " is not a CA certificate");
  if (mbedtls_pk_check_pair(&ca.crt.crt.pk, &ca.key.pk, detail::rng_fill, &blinding) != 0) {
    return Error(Errc::auth, key_path + " does not belong to " + crt_path);
  }
  return ok();
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Result<void> write_private_file(const std::string& path, std::string_view text) {
  return write_exclusive_0600(path, reinterpret_cast<const unsigned char*>(text.data()), text.size());
}

Result<void> init_ca(const std::string& dir, const std::string& ca_name, Rng& rng, int64_t at) {
  if (dir.empty()) return Error(Errc::invalid_argument, "no PKI directory given");
  if (ca_name.empty() || ca_name.size() > kMaxNameLen || !is_printable_ascii(ca_name)) {
    return Error(Errc::invalid_argument, "CA name must be 1.." + std::to_string(kMaxNameLen) +
                                             " printable ASCII characters");
  }
  const std::string key_path = dir + "/ca.key";
  if (file_exists(key_path)) {
    return Error(Errc::exists, key_path + " already exists; refusing to overwrite a CA");
  }
  if (auto r = make_dir(dir); !r.ok()) return r;

  Drbg drbg;
  if (auto r = drbg.seed(rng); !r.ok()) return r;
  PkKey key;
  if (auto r = generate_p256(key, drbg); !r.ok()) return r;

  CrtWriter cw;
  Names name = common_name(ca_name);
  detail::set_writer_names(&cw.w, name.head(), name.head());
  mbedtls_x509write_crt_set_subject_key(&cw.w, &key.pk);
  mbedtls_x509write_crt_set_issuer_key(&cw.w, &key.pk);
  mbedtls_x509write_crt_set_md_alg(&cw.w, MBEDTLS_MD_SHA256);
  if (auto r = set_random_serial(cw, drbg); !r.ok()) return r;
  const int64_t now = at != 0 ? at : int64_t(::time(nullptr));
  int ret = mbedtls_x509write_crt_set_validity(
      &cw.w, x509_time(now - kBackdateSeconds).c_str(),
      x509_time(now + int64_t(kCaValidityDays) * 86400).c_str());
  if (ret == 0) ret = mbedtls_x509write_crt_set_basic_constraints(&cw.w, 1, 0);
  if (ret == 0) {
    ret = mbedtls_x509write_crt_set_key_usage(
        &cw.w, MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN);
  }
  if (ret == 0) ret = set_key_identifiers(cw, key.pk, key.pk, nullptr);
  if (ret != 0) return mbed_error("building the CA certificate", ret);
  auto pem = write_crt_pem(cw, drbg);
  if (!pem.ok()) return pem.error();

  if (auto r = write_pair(key_path, key, dir + "/ca.crt", *pem); !r.ok()) {
    if (r.error().code == Errc::exists) {
      return Error(Errc::exists, key_path + " already exists; refusing to overwrite a CA");
    }
    return r;
  }
  LOG_INFO("pki: created CA '%s' in %s", ca_name.c_str(), dir.c_str());
  return ok();
}

Result<void> issue(const std::string& dir, const std::string& name, const IssueOptions& opts,
                   Rng& rng) {
  if (dir.empty()) return Error(Errc::invalid_argument, "no PKI directory given");
  if (!is_safe_name(name)) {
    return Error(Errc::invalid_argument,
                 "bad name '" + name + "': use 1.." + std::to_string(kMaxNameLen) +
                     " letters, digits, '.', '_' or '-', not starting with '.'");
  }
  if (name == "ca") return Error(Errc::invalid_argument, "'ca' is the CA's own name in " + dir);
  if (opts.days == 0 || opts.days > kMaxLeafDays) {
    return Error(Errc::invalid_argument, "days must be 1.." + std::to_string(kMaxLeafDays));
  }
  // subjectAltName: a server always carries its own name first (peers check it there, not in
  // the CN); a client only what it was given.
  std::vector<std::string> dns;
  if (opts.server) dns.push_back(name);
  for (const auto& d : opts.dns_names) {
    if (!(opts.server && d == name)) dns.push_back(d);
  }
  std::vector<uint8_t> san;
  if (!dns.empty() || !opts.ip_addresses.empty()) {
    auto der = encode_subject_alt_name(dns, opts.ip_addresses);
    if (!der.ok()) return der.error();
    san = std::move(*der);
  }
  const std::vector<uint8_t> eku = encode_extended_key_usage(opts.server);

  const std::string key_path = dir + "/" + name + ".key";
  if (file_exists(key_path)) return Error(Errc::exists, key_path + " already exists");
  Ca ca;
  if (auto r = load_ca(dir, ca); !r.ok()) return r;
  auto issuer = copy_subject(ca.crt.crt);
  if (!issuer.ok()) return issuer.error();

  const int64_t now = opts.now != 0 ? opts.now : int64_t(::time(nullptr));
  int64_t not_after = now + int64_t(opts.days) * 86400;
  const int64_t ca_end = detail::x509_time_to_unix(ca.crt.crt.valid_to);
  if (not_after > ca_end) {
    LOG_WARN("pki: %s would outlive the CA; it expires with the CA on %s UTC", name.c_str(),
             x509_time(ca_end).c_str());
    not_after = ca_end;
  }
  if (not_after <= now) return Error(Errc::auth, "the CA in " + dir + " has expired");

  Drbg drbg;
  if (auto r = drbg.seed(rng); !r.ok()) return r;
  PkKey key;
  if (auto r = generate_p256(key, drbg); !r.ok()) return r;

  CrtWriter cw;
  Names subject = common_name(name);
  detail::set_writer_names(&cw.w, subject.head(), issuer->head());
  mbedtls_x509write_crt_set_subject_key(&cw.w, &key.pk);
  mbedtls_x509write_crt_set_issuer_key(&cw.w, &ca.key.pk);
  mbedtls_x509write_crt_set_md_alg(&cw.w, MBEDTLS_MD_SHA256);
  if (auto r = set_random_serial(cw, drbg); !r.ok()) return r;
  int ret = mbedtls_x509write_crt_set_validity(&cw.w, x509_time(now - kBackdateSeconds).c_str(),
                                               x509_time(not_after).c_str());
  if (ret == 0) ret = mbedtls_x509write_crt_set_basic_constraints(&cw.w, 0, -1);
  if (ret == 0) ret = mbedtls_x509write_crt_set_key_usage(&cw.w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
  if (ret == 0) {
    ret = mbedtls_x509write_crt_set_extension(&cw.w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                              MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0,
                                              eku.data(), eku.size());
  }
  if (ret == 0 && !san.empty()) {
    ret = mbedtls_x509write_crt_set_extension(&cw.w, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                              MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
                                              san.data(), san.size());
  }
  if (ret == 0) ret = set_key_identifiers(cw, key.pk, ca.key.pk, &ca.crt.crt);
  if (ret != 0) return mbed_error("building the certificate for " + name, ret);
  auto pem = write_crt_pem(cw, drbg);
  if (!pem.ok()) return pem.error();

  if (auto r = write_pair(key_path, key, dir + "/" + name + ".crt", *pem); !r.ok()) return r;
  LOG_INFO("pki: issued %s certificate '%s' in %s", opts.server ? "server" : "client",
           name.c_str(), dir.c_str());
  return ok();
}

}  // namespace ptun::tls::pki
