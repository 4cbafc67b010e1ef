// One session per peer across servers (SessionBook), shared revocations (Revocations) and etcd's
// health (ClusterHealth), all against the in-memory etcd (fake_etcd.hpp): whichever way puts and
// polls interleave, exactly the older session is closed, and only records a server wrote are
// deleted by it.
#include <catch2/catch.hpp>

#include "cluster/cluster_health.hpp"
#include "cluster/revocations.hpp"
#include "cluster/session_book.hpp"
#include "fake_etcd.hpp"

using namespace ptun;
using namespace ptun::cluster;
using ptun::cluster::test::FakeEtcd;

namespace {

// A server's book with the I/O ClusterNode would do, against `db`.
struct Node {
  SessionBook book;
  int64_t lease;
  std::vector<Kick> kicks;
  Node(const char* name, int64_t l) : book("/ptun", name), lease(l) {}
  void sync(FakeEtcd& db) {
    for (int i = 0; i < 100; ++i) {   // bounded: a book in a loop would fail the test, not hang it
      auto w = book.next_write(lease, 100);
      if (!w) return;
      if (auto k = book.written(*w, db.apply(w->txn))) kicks.push_back(*k);
    }
    FAIL("the book never got in line with etcd");
  }
  void poll(FakeEtcd& db, bool full = false) {
    TxnRequest t;
    TxnOp op;
    op.range = book.changes(full);
    t.success.push_back(op);
    auto r = db.apply(t);
    for (auto& k : book.observe(r.ranges.at(0), r.revision, full)) kicks.push_back(k);
  }
};

std::optional<SessionRecord> record(const FakeEtcd& db, const std::string& cn) {
  auto it = db.keys().find("/ptun/sessions/" + cn);
  if (it == db.keys().end()) return std::nullopt;
  auto r = decode_session_record(it->second.value);
  REQUIRE(r.ok());
  return *r;
}

int64_t lease_of(const FakeEtcd& db, const std::string& cn) { return db.keys().at("/ptun/sessions/" + cn).lease; }

}  // namespace

TEST_CASE("session records: encode and decode, bad records refused", "[cluster][sessions]") {
  SessionRecord r{"vpn1", 0xfedcba9876543210ull, 1700000000};
  auto back = decode_session_record(encode_session_record(r));
  REQUIRE(back.ok());
  CHECK(*back == r);
  for (const char* bad : {"", "[]", "{}", R"({"server":"a"})", R"({"server":"","session":"1"})",
                          R"({"server":"a","session":1})", R"({"server":"a","session":"xyz"})",
                          R"({"server":"a","session":"11112222333344445"})", R"({"server":"a","session":"1","at":"x"})"}) {
    INFO(bad);
    CHECK_FALSE(decode_session_record(bad).ok());
  }
}

TEST_CASE("a peer that connects to another server has its session on the first one closed", "[cluster][sessions]") {
  FakeEtcd db;
  Node a("a", 7), b("b", 8);
  a.book.up("p", 1);
  a.book.up("q", 5);
  a.sync(db);
  a.poll(db);
  b.poll(db);
  CHECK(record(db, "p")->server == "a");
  CHECK(lease_of(db, "p") == 7);   // under a's lease: gone if a dies
  b.book.up("p", 2);
  b.sync(db);
  b.poll(db);
  a.poll(db);
  REQUIRE(a.kicks.size() == 1);
  CHECK(a.kicks[0].cn == "p");
  CHECK(a.kicks[0].session == 1);
  CHECK(a.kicks[0].server == "b");
  CHECK(b.kicks.empty());
  a.poll(db);
  CHECK(a.kicks.size() == 1);   // once
  // a closes it: its delete must not remove b's record.
  a.book.down("p", 1);
  a.sync(db);
  CHECK(record(db, "p")->server == "b");
  CHECK(record(db, "p")->session == 2);
  CHECK(record(db, "q")->server == "a");   // the other peer is untouched
  // b's session ends: its record goes.
  b.book.down("p", 2);
  b.sync(db);
  CHECK_FALSE(record(db, "p"));
  CHECK(a.book.pending() == 0);
  CHECK(b.book.pending() == 0);
}

TEST_CASE("puts and polls interleaved: the session etcd ordered last stays, on both sides", "[cluster][sessions]") {
  SECTION("a's put is answered after a poll saw b's later one: a closes its own") {
    FakeEtcd db;
    Node a("a", 7), b("b", 8);
    a.book.up("p", 1);
    auto wa = a.book.next_write(a.lease, 100);
    REQUIRE(wa);
    auto ra = db.apply(wa->txn);   // applied first...
    b.book.up("p", 2);
    b.sync(db);                    // ...b's applied later
    a.poll(db);                    // a sees b's record before its own answer
    CHECK(a.kicks.empty());
    auto k = a.book.written(*wa, ra);
    REQUIRE(k);
    CHECK(k->session == 1);
    CHECK(k->server == "b");
    b.poll(db);
    CHECK(b.kicks.empty());
  }
  SECTION("a's put lands after b's: b closes, a stays") {
    FakeEtcd db;
    Node a("a", 7), b("b", 8);
    a.book.up("p", 1);
    auto wa = a.book.next_write(a.lease, 100);
    REQUIRE(wa);
    b.book.up("p", 2);
    b.sync(db);
    a.poll(db);   // b's record seen while a's put is on its way
    CHECK_FALSE(a.book.written(*wa, db.apply(wa->txn)));
    a.poll(db);
    b.poll(db);
    CHECK(a.kicks.empty());
    REQUIRE(b.kicks.size() == 1);
    CHECK(b.kicks[0].session == 2);
    CHECK(record(db, "p")->server == "a");
  }
}

TEST_CASE("a record overwritten and deleted between two polls: a full look writes ours again", "[cluster][sessions]") {
  // Seen in CI: the peer's second device came to b and went again within one poll of a's; a's
  // polls of changes show no delete, so a held a live session with no record (no backbone route).
  FakeEtcd db;
  Node a("a", 7), b("b", 8);
  a.book.up("p", 1);
  a.sync(db);
  a.poll(db);
  b.poll(db);
  b.book.up("p", 2);
  b.sync(db);
  b.book.down("p", 2);
  b.sync(db);
  CHECK_FALSE(record(db, "p"));
  a.poll(db);
  a.sync(db);
  CHECK(a.kicks.empty());
  CHECK_FALSE(record(db, "p"));   // a change poll cannot see it
  a.poll(db, true);
  CHECK(a.book.pending() == 1);
  a.sync(db);
  REQUIRE(record(db, "p"));
  CHECK(record(db, "p")->server == "a");
  CHECK(record(db, "p")->session == 1);
  CHECK(lease_of(db, "p") == 7);
  CHECK(a.kicks.empty());
  a.poll(db, true);   // in line now: nothing more to write
  CHECK(a.book.pending() == 0);

  SECTION("b's peer is back there before a's rewrite: a's session is the older, it goes") {
    b.book.up("p", 3);
    b.sync(db);
    a.book.lease_lost();   // any path to a rewrite with create_revision == 0 ends the same
    a.sync(db);
    REQUIRE(a.kicks.size() == 1);
    CHECK(a.kicks[0].server == "b");
    CHECK(record(db, "p")->server == "b");
  }
}

TEST_CASE("a full look does not forget a record written after its revision", "[cluster][sessions]") {
  FakeEtcd db;
  Node a("a", 7);
  TxnRequest t;
  TxnOp op;
  op.range = a.book.changes(true);
  t.success.push_back(op);
  auto before = db.apply(t);   // the full look, answered before the put below
  a.book.up("p", 1);
  a.sync(db);
  CHECK(a.book.observe(before.ranges.at(0), before.revision, true).empty());
  CHECK(a.book.pending() == 0);   // not written again: the answer was older than the put
  // A closed session's record that vanished (its lease expired) is forgotten, not deleted again.
  a.book.down("p", 1);
  db.expire_lease(7);
  auto now = db.apply(t);
  a.book.observe(now.ranges.at(0), now.revision, true);
  CHECK_FALSE(a.book.next_write(7, 100));
  CHECK(a.book.live() == 0);
}

TEST_CASE("a rekeyed or replaced session here: one record, the old session's end deletes nothing", "[cluster][sessions]") {
  FakeEtcd db;
  Node a("a", 7);
  a.book.up("p", 1);
  a.sync(db);
  a.book.up("p", 2);   // the peer's new session here (rekey or reconnect)
  a.sync(db);
  CHECK(record(db, "p")->session == 2);
  a.book.down("p", 1);   // the old one ends later
  CHECK_FALSE(a.book.next_write(a.lease, 100));
  CHECK(record(db, "p")->session == 2);
  a.poll(db);
  CHECK(a.kicks.empty());   // its own records never kick it
}

TEST_CASE("a lost lease: records written again, except where the peer moved meanwhile", "[cluster][sessions]") {
  FakeEtcd db;
  Node a("a", 7), b("b", 8);
  a.book.up("p", 1);
  a.book.up("q", 2);
  a.book.up("r", 3);
  a.sync(db);
  a.book.down("r", 3);   // ends during the outage: its delete cannot reach etcd
  auto w = a.book.next_write(a.lease, 100);
  REQUIRE(w);
  a.book.failed(*w);
  db.expire_lease(7);    // etcd forgot a (unreachable longer than the TTL)
  CHECK(db.keys().empty());
  b.book.up("q", 9);     // q moved to b meanwhile
  b.sync(db);
  a.book.lease_lost();
  a.lease = 11;
  a.sync(db);
  CHECK(record(db, "p")->server == "a");
  CHECK(lease_of(db, "p") == 11);
  CHECK(record(db, "q")->server == "b");   // not overwritten by the stale session
  REQUIRE(a.kicks.size() == 1);
  CHECK(a.kicks[0].cn == "q");
  CHECK(a.kicks[0].session == 2);
  CHECK_FALSE(record(db, "r"));
  CHECK(a.book.live() == 1);
  CHECK(a.book.pending() == 0);
}

TEST_CASE("failed writes stay to do, what is written is what is true now", "[cluster][sessions]") {
  FakeEtcd db;
  Node a("a", 7);
  a.book.up("p", 1);
  auto w = a.book.next_write(a.lease, 100);
  REQUIRE(w);
  a.book.failed(*w);
  a.book.down("p", 1);   // ended before an answer: a delete, in case the put was applied
  auto maybe = a.book.next_write(a.lease, 100);
  REQUIRE(maybe);
  CHECK(maybe->session == 0);
  CHECK(maybe->value == w->value);   // only that record, if it is there unchanged
  a.sync(db);                        // it was not: nothing deleted, and nothing more to write
  CHECK_FALSE(record(db, "p"));
  CHECK_FALSE(a.book.next_write(a.lease, 100));
  CHECK(a.book.pending() == 0);
  a.book.up("p", 2);
  a.sync(db);
  a.book.down("p", 2);
  auto del = a.book.next_write(a.lease, 100);
  REQUIRE(del);
  CHECK(del->session == 0);
  a.book.failed(*del);
  auto again = a.book.next_write(a.lease, 100);
  REQUIRE(again);
  CHECK(again->session == 0);   // the delete, again
  a.sync(db);
  CHECK_FALSE(record(db, "p"));
}

TEST_CASE("a put applied but unanswered, then the session ends: its record is deleted", "[cluster][sessions]") {
  FakeEtcd db;
  Node a("a", 7), b("b", 8);
  a.book.up("q", 3);
  auto w = a.book.next_write(a.lease, 100);
  REQUIRE(w);
  (void)db.apply(w->txn);   // etcd applied it, then the connection broke before the answer
  a.book.failed(*w);
  REQUIRE(record(db, "q"));
  a.book.down("q", 3);
  a.sync(db);
  CHECK_FALSE(record(db, "q"));
  CHECK(a.book.pending() == 0);
  // The same, but the peer moved to b meanwhile: b's record stays.
  a.book.up("r", 4);
  w = a.book.next_write(a.lease, 100);
  REQUIRE(w);
  (void)db.apply(w->txn);
  a.book.failed(*w);
  b.book.up("r", 5);
  b.sync(db);
  a.book.down("r", 4);
  a.sync(db);
  REQUIRE(record(db, "r"));
  CHECK(record(db, "r")->server == "b");
}

TEST_CASE("a record left by an earlier run of this server is overwritten, garbage ignored", "[cluster][sessions]") {
  FakeEtcd db;
  {
    Node old("a", 3);
    old.book.up("p", 1);
    old.sync(db);
  }
  Node a("a", 7);
  a.book.up("p", 5);
  a.book.up("z", 6);
  a.sync(db);
  a.book.lease_lost();   // the re-write path (compare create == 0) meets the old record
  a.lease = 8;
  a.sync(db);
  CHECK(record(db, "p")->session == 5);
  CHECK(lease_of(db, "p") == 8);
  a.poll(db);
  // Garbage in a live peer's record (someone's etcdctl): no kick, nothing thrown.
  TxnRequest junk;
  TxnOp put;
  put.put = PutRequest{"/ptun/sessions/z", "not json", 0};
  junk.success.push_back(put);
  db.apply(junk);
  a.poll(db);
  CHECK(a.kicks.empty());
}

TEST_CASE("revocations: serials normalized, changes polled, withdrawn ones dropped at a full read", "[cluster][revoke]") {
  CHECK(normalize_serial("0A:1b:FF") == "0a1bff");
  CHECK(normalize_serial("00ff") == "ff");
  CHECK(normalize_serial("0000") == "00");
  CHECK(normalize_serial("abc") == "0abc");
  CHECK_FALSE(normalize_serial("xyz"));
  CHECK_FALSE(normalize_serial(""));
  FakeEtcd db;
  Revocations rv("/ptun");
  auto put = [&](const std::string& k) {
    TxnRequest t;
    TxnOp op;
    op.put = PutRequest{"/ptun/revoked/" + k, "by admin", 0};
    t.success.push_back(op);
    db.apply(t);
  };
  auto poll = [&] {
    TxnRequest t;
    TxnOp op;
    op.range = rv.changes();
    t.success.push_back(op);
    auto r = db.apply(t);
    return rv.observe(r.ranges.at(0), r.revision);
  };
  put("AA:BB");
  put("note-not-a-serial");
  CHECK_FALSE(rv.loaded());
  auto first = poll();
  CHECK(rv.loaded());
  CHECK(first == std::vector<std::string>{"aabb"});
  CHECK(rv.revoked("00aabb"));
  CHECK(poll().empty());
  CHECK(rv.changes().min_mod_revision == db.revision() + 1);   // only changes from now on
  put("cc");
  CHECK(poll() == std::vector<std::string>{"cc"});
  CHECK(rv.revoked("CC"));
  // Withdrawn: delete the key; it keeps applying until the next full read.
  TxnRequest del;
  TxnOp d;
  d.del = DeleteRequest{"/ptun/revoked/cc"};
  del.success.push_back(d);
  db.apply(del);
  int polls = 0;
  while (rv.revoked("cc") && polls < 2 * Revocations::kFullEvery) {
    (void)poll();
    ++polls;
  }
  CHECK_FALSE(rv.revoked("cc"));
  CHECK(polls <= Revocations::kFullEvery);
  CHECK(rv.revoked("aabb"));
}

TEST_CASE("etcd's health: starting until the first answer, unreachable after, degraded with a member down", "[cluster][health]") {
  ClusterHealth h;
  CHECK(h.state() == HealthState::starting);
  CHECK_FALSE(h.accepts_new_sessions());
  CHECK_FALSE(h.failed(10, "connect refused"));   // never answered: still starting
  CHECK(h.state() == HealthState::starting);
  CHECK(h.last_error() == "connect refused");
  CHECK(h.answered(20, 0));
  CHECK(h.state() == HealthState::ok);
  CHECK(h.accepts_new_sessions());
  CHECK(h.answered(30, 1));
  CHECK(h.state() == HealthState::degraded);
  CHECK(h.accepts_new_sessions());
  CHECK(h.failed(40, "timeout"));
  CHECK(h.state() == HealthState::unreachable);
  CHECK_FALSE(h.accepts_new_sessions());
  CHECK(h.since_ms() == 40);
  CHECK_FALSE(h.failed(50, "timeout again"));
  CHECK(h.since_ms() == 40);
  CHECK(h.outages() == 1);
  CHECK(h.answered(60, 0));
  CHECK(h.state() == HealthState::ok);
  CHECK(h.since_ms() == 60);
  CHECK(h.last_error() == "timeout again");   // kept for status
}
