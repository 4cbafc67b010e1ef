// ClusterLeases and EtcdClient against a real etcd (Debian's etcd-server), started by the test on
// loopback inside a network namespace of its own (netns_child.hpp), data in a temp dir:
//
//   netns (lo only): etcd 127.0.0.1:23790 <- EtcdClient s1, EtcdClient s2 (one libuv loop)
//
// Two servers race for one pool with many handshakes in flight at once: no address is handed out
// twice, and a peer that reconnects to the other server keeps its addresses.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include "cluster/cluster_leases.hpp"
#include "cluster/cluster_node.hpp"
#include "cluster/curl_api.hpp"
#include "core/run.hpp"
#include "core/task_scope.hpp"
#include "core/timer.hpp"
#include "netlink/netns_child.hpp"

using namespace ptun;
using namespace ptun::cluster;
using ptun::test::ChildChecks;

namespace {

const char* kEtcdUrl = "http://127.0.0.1:23790";

bool lo_up() {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool ok = fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags |= IFF_UP;
  ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  if (fd >= 0) close(fd);
  return ok;
}

// etcd in the background, killed with the test (PDEATHSIG also if the child dies on its alarm).
struct Etcd {
  std::string dir;
  pid_t pid = -1;
  explicit Etcd(ChildChecks& c) {
    char tmpl[] = "/tmp/ptun-etcd-XXXXXX";
    if (!mkdtemp(tmpl)) {
      c.fail(__FILE__, __LINE__, "mkdtemp failed");
      return;
    }
    dir = tmpl;
    start();
  }
  // Again after stop(): the same data, so the same keys and leases.
  void start() {
    pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      int log = open((dir + "/etcd.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (log >= 0) {
        dup2(log, 1);
        dup2(log, 2);
      }
      const std::string data = dir + "/data";
      execlp("etcd", "etcd", "--data-dir", data.c_str(), "--listen-client-urls", kEtcdUrl,
             "--advertise-client-urls", kEtcdUrl, "--listen-peer-urls", "http://127.0.0.1:23800",
             "--initial-advertise-peer-urls", "http://127.0.0.1:23800", "--initial-cluster",
             "default=http://127.0.0.1:23800", static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  void stop() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    pid = -1;
  }
  ~Etcd() {
    stop();
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }
  bool exited_127() {
    int st = 0;
    return pid > 0 && waitpid(pid, &st, WNOHANG) == pid && (pid = -1, WIFEXITED(st) && WEXITSTATUS(st) == 127);
  }
};

EtcdOptions options(std::vector<std::string> endpoints = {kEtcdUrl}) {
  EtcdOptions o;
  o.endpoints = std::move(endpoints);
  o.timeout_ms = 1000;
  return o;
}

AllocConfig server(const char* name) {
  AllocConfig c;
  c.prefix = "/ptun-test";
  c.server = name;
  c.v4_pool = *Cidr::parse("10.9.0.0/26");  // 61 addresses for peers
  c.v6_pool = *Cidr::parse("fd09::/64");
  c.reserved = {*IpAddr::parse("10.9.0.5")};
  return c;
}

// Bounded wait for etcd to answer (about 10 s).
core::Task<bool> wait_ready(core::Loop& loop, EtcdClient& etcd) {
  // Named locals, not braced temporaries, in co_await operands: g++ 12 miscompiles those
  // (the parameter copy kept the temporary's SSO pointer; DEPENDENCIES.md).
  const RangeRequest probe{"probe", "", false, 0};
  for (int i = 0; i < 100; ++i) {
    auto r = co_await etcd.range(probe);
    if (r.ok()) co_return true;
    (void)co_await core::sleep_for(loop, 100);
  }
  co_return false;
}

}  // namespace

TEST_CASE("two servers racing against a real etcd never hand out an address twice", "[cluster][etcd][netns]") {
  ptun::test::run_in_netns([](ChildChecks& c) {
    CHILD_CHECK(c, lo_up());
    Etcd etcd(c);
    core::Loop loop;
    EtcdClient e1(loop, options()), e2(loop, options());
    ClusterLeases s1(e1, server("s1"), 30), s2(e2, server("s2"), 30);
    const bool ready = core::run_until_complete(loop, wait_ready(loop, e1));
    if (!ready) {
      c.fail(__FILE__, __LINE__, etcd.exited_127() ? "etcd not installed (scripts/install-deps.sh: etcd-server)"
                                                   : "etcd did not answer within 10 s");
      return;
    }
    // 25 peers per server, all handshakes in flight at once, overlapping names: p0..p29 on s1,
    // p20..p49 on s2 (p20..p29 race for their own record from both sides).
    std::map<std::string, std::vector<Addresses>> got;
    std::vector<std::string> errors;
    core::TaskScope scope(loop);
    auto one = [&](ClusterLeases& s, std::string cn) -> core::Task<void> {
      auto r = co_await s.acquire(cn, 1000);
      if (r) got[cn].push_back(*r);
      else errors.push_back(cn + ": " + r.error().message);
    };
    for (int i = 0; i < 30; ++i) {
      scope.spawn(one(s1, "p" + std::to_string(i)));
      scope.spawn(one(s2, "p" + std::to_string(i + 20)));
    }
    core::run_until_complete(loop, scope.join());
    for (auto& e : errors) c.fail(__FILE__, __LINE__, e);
    CHILD_CHECK(c, got.size() == 50);
    if (got.size() != 50) return;
    std::map<IpAddr, std::string> owner;
    for (const auto& [cn, list] : got) {
      for (const auto& a : list) {
        CHILD_CHECK(c, a == list.front());  // both servers gave p20..p29 the same addresses
        for (const auto& ip : {a.ipv4, a.ipv6}) {
          CHILD_CHECK(c, ip.has_value());
          auto [it, fresh] = owner.emplace(*ip, cn);
          if (!fresh && it->second != cn) c.fail(__FILE__, __LINE__, ip->str() + " given to " + it->second + " and " + cn);
        }
      }
    }
    CHILD_CHECK(c, !owner.count(*IpAddr::parse("10.9.0.5")));   // the static one
    CHILD_CHECK(c, !owner.count(*IpAddr::parse("10.9.0.1")));   // the servers'
    // What etcd holds agrees: one lease key per address handed out, naming its peer.
    const AllocConfig cfg = server("check");
    auto keys = core::run_until_complete(loop, e1.range(RangeRequest{leases_prefix(cfg), prefix_end(leases_prefix(cfg)), false, 0}));
    CHILD_OK(c, keys);
    CHILD_CHECK(c, keys->kvs.size() == owner.size());
    for (const auto& kv : keys->kvs) {
      auto a = IpAddr::parse(kv.key.substr(leases_prefix(cfg).size()));
      CHILD_CHECK(c, a.ok() && owner.count(*a) && owner[*a] == kv.value);
    }
    const uint64_t races = s1.stats().races + s2.stats().races;
    std::printf("etcd live: %llu races lost and retried; %llu+%llu round trips for %llu+%llu acquires\n",
                (unsigned long long)races, (unsigned long long)s1.stats().round_trips,
                (unsigned long long)s2.stats().round_trips, (unsigned long long)s1.stats().acquired,
                (unsigned long long)s2.stats().acquired);
    std::fflush(stdout);
    CHILD_CHECK(c, races > 0);  // 60 acquires in flight at once did race (else the test proves little)

    // A reconnect: p3 leaves s1 and lands on s2 -> the same addresses. p25 was acquired by both:
    // only the server whose commit came last holds its record, so exactly one release applies.
    auto before = got["p3"].front();
    CHILD_OK(c, core::run_until_complete(loop, s1.release("p3", 1100)));
    auto again = core::run_until_complete(loop, s2.acquire("p3", 1101));
    CHILD_OK(c, again);
    CHILD_CHECK(c, *again == before);
    auto p3 = core::run_until_complete(loop, e1.range(RangeRequest{peer_key(cfg, "p3"), "", false, 0}));
    CHILD_OK(c, p3);
    CHILD_CHECK(c, p3->kvs.size() == 1 && p3->kvs[0].lease == 0);  // active again: no grace lease
    CHILD_OK(c, core::run_until_complete(loop, s2.release("p25", 1102)));
    CHILD_OK(c, core::run_until_complete(loop, s1.release("p25", 1103)));
    CHILD_CHECK(c, s1.stats().release_lost + s2.stats().release_lost == 1);
    CHILD_CHECK(c, s1.stats().released + s2.stats().released == 2);   // p3 and p25
  });
}

TEST_CASE("the client fails over to the next endpoint and reports a dead cluster", "[cluster][etcd][netns]") {
  ptun::test::run_in_netns([](ChildChecks& c) {
    CHILD_CHECK(c, lo_up());
    Etcd etcd(c);
    core::Loop loop;
    // First endpoint: nothing listens there (connection refused at once).
    EtcdClient e(loop, options({"http://127.0.0.1:1", kEtcdUrl}));
    CHILD_CHECK(c, core::run_until_complete(loop, wait_ready(loop, e)));
    CHILD_CHECK(c, e.stats().failovers >= 1);
    CHILD_CHECK(c, e.current_endpoint() == kEtcdUrl);  // and stays there
    const uint64_t attempts = e.stats().attempts;
    auto g = core::run_until_complete(loop, e.lease_grant(30));
    CHILD_OK(c, g);
    CHILD_CHECK(c, e.stats().attempts == attempts + 1);
    auto k = core::run_until_complete(loop, e.lease_keepalive(g->id));
    CHILD_OK(c, k);
    CHILD_CHECK(c, k->id == g->id && k->ttl > 0);
    CHILD_OK(c, core::run_until_complete(loop, e.lease_revoke(g->id)));
    auto gone = core::run_until_complete(loop, e.lease_keepalive(g->id));
    CHILD_CHECK(c, gone.ok() && gone->ttl == 0);
    // etcd's own refusals are errors with its message, not failovers.
    TxnRequest big;
    for (int i = 0; i < 200; ++i) {
      TxnOp op;
      op.put = PutRequest{"k" + std::to_string(i), "v", 0};
      big.success.push_back(op);
    }
    auto refused = core::run_until_complete(loop, e.txn(big));
    CHILD_CHECK(c, !refused.ok() && refused.error().message.find("too many operations") != std::string::npos);
    // Every endpoint down: an error naming the last one, in bounded time.
    kill(etcd.pid, SIGKILL);
    waitpid(etcd.pid, nullptr, 0);
    etcd.pid = -1;
    const uint64_t t0 = loop.now_ms();
    auto dead = core::run_until_complete(loop, e.range(RangeRequest{"x", "", false, 0}));
    CHILD_CHECK(c, !dead.ok());
    CHILD_CHECK(c, loop.now_ms() - t0 < 2500);
    CHILD_CHECK(c, e.stats().failed >= 1);
  });
}


namespace {
// Polls `done` every 20 ms for at most `ms`; how long it took, or -1.
core::Task<int64_t> until(core::Loop& loop, std::function<bool()> done, uint64_t ms) {
  const uint64_t t0 = loop.now_ms();
  while (!done()) {
    if (loop.now_ms() - t0 > ms) co_return -1;
    (void)co_await core::sleep_for(loop, 20);
  }
  co_return int64_t(loop.now_ms() - t0);
}

std::optional<KeyValue> key_of(core::Loop& loop, EtcdClient& e, const std::string& key) {
  const RangeRequest q{key, "", false, 0, 0};
  auto r = core::run_until_complete(loop, e.range(q));
  if (!r || r->kvs.empty()) return std::nullopt;
  return r->kvs[0];
}
}  // namespace

TEST_CASE("cluster nodes against a real etcd: a moved peer's old session closed, revocation, lost lease, outage",
          "[cluster][etcd][netns]") {
  ptun::test::run_in_netns([](ChildChecks& c) {
    CHILD_CHECK(c, lo_up());
    Etcd etcd(c);
    core::Loop loop;
    EtcdClient e1(loop, options()), e2(loop, options()), admin(loop, options());
    if (!core::run_until_complete(loop, wait_ready(loop, admin))) {
      c.fail(__FILE__, __LINE__, "etcd did not answer within 10 s");
      return;
    }
    std::vector<Kick> k1, k2;
    std::vector<std::string> r1, r2;
    auto node = [&](const char* name, EtcdClient& e, std::vector<Kick>& k, std::vector<std::string>& r) {
      NodeOptions o;
      o.prefix = "/ptun-test";
      o.server = name;
      o.ttl_s = 3;
      o.poll_ms = 200;
      o.probe_ms = 1000;
      NodeHooks h;
      h.kick = [&k](const Kick& x) { k.push_back(x); };
      h.revoked = [&r](const std::string& s) { r.push_back(s); };
      return std::make_unique<ClusterNode>(loop, e, o, h);
    };
    auto n1 = node("s1", e1, k1, r1);
    auto n2 = node("s2", e2, k2, r2);
    core::CancelSource stop;
    core::TaskScope scope(loop);
    scope.spawn(n1->run(stop.token()));
    scope.spawn(n2->run(stop.token()));
    auto wait = [&](std::function<bool()> done, uint64_t ms) { return core::run_until_complete(loop, until(loop, std::move(done), ms)); };
    CHILD_CHECK(c, wait([&] { return n1->health().accepts_new_sessions() && n2->health().accepts_new_sessions(); }, 3000) >= 0);

    // p on s1, then on s2: s1 is told to close its session, s2 is not.
    n1->session_up("p", 1);
    CHILD_CHECK(c, wait([&] { auto kv = key_of(loop, admin, "/ptun-test/sessions/p"); return kv && kv->lease == n1->lease(); }, 2000) >= 0);
    n2->session_up("p", 2);
    const int64_t kick_ms = wait([&] { return !k1.empty(); }, 3000);
    CHILD_CHECK(c, kick_ms >= 0);
    std::printf("etcd live: a moved peer's old session kicked %lld ms after its new session came up on the other server (poll 200 ms)\n",
                (long long)kick_ms);
    CHILD_CHECK(c, k1.size() == 1 && k1[0].cn == "p" && k1[0].session == 1 && k1[0].server == "s2");
    CHILD_CHECK(c, k2.empty());
    n1->session_down("p", 1);   // what the server does when it has closed it
    (void)wait([&] { return n1->book().pending() == 0; }, 2000);
    auto p = key_of(loop, admin, "/ptun-test/sessions/p");
    CHILD_CHECK(c, p && p->lease == n2->lease() && p->value.find("\"s2\"") != std::string::npos);

    // A revocation put by an operator (etcdctl put /ptun/revoked/<serial>) reaches both.
    TxnRequest rv;
    TxnOp put;
    put.put = PutRequest{"/ptun-test/revoked/AB:CD:01", "lost laptop", 0};
    rv.success.push_back(put);
    CHILD_OK(c, core::run_until_complete(loop, admin.txn(rv)));
    CHILD_CHECK(c, wait([&] { return !r1.empty() && !r2.empty(); }, 2000) >= 0);
    CHILD_CHECK(c, r1.size() == 1 && r1[0] == "abcd01" && n2->revocations().revoked("abcd01"));

    // s1's lease disappears (as if etcd had not heard from it for the TTL): records written again.
    n1->session_up("q", 3);
    CHILD_CHECK(c, wait([&] { return key_of(loop, admin, "/ptun-test/sessions/q").has_value(); }, 2000) >= 0);
    const int64_t old_lease = n1->lease();
    CHILD_OK(c, core::run_until_complete(loop, admin.lease_revoke(old_lease)));
    CHILD_CHECK(c, !key_of(loop, admin, "/ptun-test/sessions/q"));
    CHILD_CHECK(c, wait([&] {
      auto kv = key_of(loop, admin, "/ptun-test/sessions/q");
      return n1->stats().leases_lost == 1 && kv && kv->lease == n1->lease() && kv->lease != old_lease;
    }, 4000) >= 0);

    // etcd down: both unreachable quickly; a session that starts meanwhile is written on return.
    etcd.stop();
    CHILD_CHECK(c, wait([&] { return n1->health().state() == HealthState::unreachable; }, 3000) >= 0);
    CHILD_CHECK(c, !n1->health().accepts_new_sessions() && !n1->health().last_error().empty());
    n1->session_up("r", 4);
    n1->session_down("q", 3);
    etcd.start();
    const int64_t back_ms = wait([&] { return n1->health().accepts_new_sessions() && n1->book().pending() == 0; }, 15000);
    CHILD_CHECK(c, back_ms >= 0);
    std::printf("etcd live: nodes accept sessions again %lld ms after etcd was restarted\n", (long long)back_ms);
    CHILD_CHECK(c, key_of(loop, admin, "/ptun-test/sessions/r").has_value());
    CHILD_CHECK(c, !key_of(loop, admin, "/ptun-test/sessions/q"));
    CHILD_CHECK(c, n1->health().outages() == 1);

    // Shutdown: the lease revoked, so s1's records are gone at once; s2's stay.
    stop.cancel();
    core::run_until_complete(loop, scope.join());
    core::run_until_complete(loop, n1->leave());
    CHILD_CHECK(c, !key_of(loop, admin, "/ptun-test/sessions/r"));
    CHILD_CHECK(c, key_of(loop, admin, "/ptun-test/sessions/p").has_value());
    std::fflush(stdout);
  });
}

namespace {
// A member of a 3-member etcd cluster on loopback (client port 23791+i, peer port 23801+i).
struct Member {
  std::string dir;
  pid_t pid = -1;
  Member(ChildChecks& c, int i) {
    char tmpl[] = "/tmp/ptun-etcd3-XXXXXX";
    if (!mkdtemp(tmpl)) {
      c.fail(__FILE__, __LINE__, "mkdtemp failed");
      return;
    }
    dir = tmpl;
    const std::string name = "m" + std::to_string(i);
    const std::string client = "http://127.0.0.1:" + std::to_string(23791 + i);
    const std::string peer = "http://127.0.0.1:" + std::to_string(23801 + i);
    const std::string cluster = "m0=http://127.0.0.1:23801,m1=http://127.0.0.1:23802,m2=http://127.0.0.1:23803";
    pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      int log = open((dir + "/etcd.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (log >= 0) {
        dup2(log, 1);
        dup2(log, 2);
      }
      const std::string data = dir + "/data";
      execlp("etcd", "etcd", "--name", name.c_str(), "--data-dir", data.c_str(), "--listen-client-urls", client.c_str(),
             "--advertise-client-urls", client.c_str(), "--listen-peer-urls", peer.c_str(),
             "--initial-advertise-peer-urls", peer.c_str(), "--initial-cluster", cluster.c_str(),
             "--initial-cluster-state", "new", "--heartbeat-interval", "50", "--election-timeout", "500",
             static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  void stop() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    pid = -1;
  }
  ~Member() {
    stop();
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }
};
}  // namespace

TEST_CASE("one etcd member of three down: degraded, sessions and addresses go on", "[cluster][etcd][netns]") {
  ptun::test::run_in_netns([](ChildChecks& c) {
    CHILD_CHECK(c, lo_up());
    Member m0(c, 0), m1(c, 1), m2(c, 2);
    core::Loop loop;
    EtcdClient e(loop, options({"http://127.0.0.1:23791", "http://127.0.0.1:23792", "http://127.0.0.1:23793"}));
    if (!core::run_until_complete(loop, wait_ready(loop, e))) {
      c.fail(__FILE__, __LINE__, "the 3-member etcd did not answer within 10 s");
      return;
    }
    std::vector<Kick> kicks;
    NodeOptions o;
    o.prefix = "/ptun-test";
    o.server = "s1";
    o.ttl_s = 3;
    o.poll_ms = 200;
    o.probe_ms = 300;
    NodeHooks h;
    h.kick = [&](const Kick& k) { kicks.push_back(k); };
    ClusterNode node(loop, e, o, h);
    ClusterLeases leases(e, server("s1"), 30);
    core::CancelSource stop;
    core::TaskScope scope(loop);
    scope.spawn(node.run(stop.token()));
    auto wait = [&](std::function<bool()> done, uint64_t ms) { return core::run_until_complete(loop, until(loop, std::move(done), ms)); };
    // Every member up and probed (a probe round after the first poll) before one is stopped.
    CHILD_CHECK(c, wait([&] { return node.health().state() == HealthState::ok && node.stats().polls > 10; }, 8000) >= 0);
    if (node.health().state() != HealthState::ok) {
      for (auto* m : {&m0, &m1, &m2}) {
        std::string tail = "cat " + m->dir + "/etcd.log | tail -5";
        (void)!std::system(tail.c_str());
      }
    }
    node.session_up("p", 1);
    CHILD_CHECK(c, wait([&] { return node.book().pending() == 0; }, 2000) >= 0);

    // The member the client talks to dies.
    const std::string was = e.current_endpoint();
    (was.find("23791") != std::string::npos ? m0 : was.find("23792") != std::string::npos ? m1 : m2).stop();
    CHILD_CHECK(c, wait([&] { return node.health().state() == HealthState::degraded; }, 3000) >= 0);
    CHILD_CHECK(c, node.health().members_down() == 1);
    CHILD_CHECK(c, node.health().accepts_new_sessions());
    node.session_up("q", 2);
    CHILD_CHECK(c, wait([&] { return node.book().pending() == 0; }, 3000) >= 0);
    CHILD_CHECK(c, key_of(loop, e, "/ptun-test/sessions/q").has_value());
    auto a = core::run_until_complete(loop, leases.acquire("q", 1000));
    CHILD_OK(c, a);
    CHILD_CHECK(c, e.current_endpoint() != was);
    // Never unreachable, never a refused session.
    (void)wait([] { return false; }, 1000);
    CHILD_CHECK(c, node.health().outages() == 0);
    CHILD_CHECK(c, node.health().state() == HealthState::degraded);
    stop.cancel();
    core::run_until_complete(loop, scope.join());
    core::run_until_complete(loop, node.leave());
  });
}

TEST_CASE("libcurl is loaded once, every call bound", "[cluster]") {
  auto a = curl_api();
  REQUIRE(a.ok());
  auto b = curl_api();
  REQUIRE(b.ok());
  CHECK(*a == *b);
  const CurlApi& c = **a;
  CHECK(c.global_init);
  CHECK(c.multi_socket_action);
  CHECK(c.easy_setopt);
  CHECK(c.slist_free_all);
  CHECK(std::string(c.easy_strerror(CURLE_OK)) == "No error");
}
