// tests/model/test_slot_model.cpp - an exhaustive model checker of the request slot's
// state word: the transitions of include/mqblk/detail/slot_word.hpp (the very functions
// RequestSlot applies with its CAS loops), run in every interleaving of a few parties.
//
// What it explores. A scenario is a set of configurations; a configuration is 1 to 5
// actors, each a straight-line program (the branches an actor may take, e.g. the owner
// ending, dropping, sharing or parking its request, are separate configurations, which
// gives the same set of executions as choosing on the way). One atomic step of an actor is
// either one transition step_X applied to the word (what one successful CAS, or a CAS
// loop that gives up, does), or one effect of an earlier transition: the delivery of the
// completion, or the return of the tag to the pool. Effects are separate steps because in
// request_slot.hpp they run after the CAS, and anybody may run in between. Actors:
//  - the owner: end(ok), drop (ioerr), share() then try_end/put_ref as a Ref, share() and
//    hand or copy the Ref to a timer, or park() then claim(gen) then end;
//  - a timer, holding the Ref the owner's share() gave it: try_end(timeout), put_ref;
//  - the timeout scan: reads the slot's generation (a step of its own, so that what it
//    read may be stale by the time it looks up), get_ref, try_end(timeout), put_ref;
//  - teardown: the same, with cancelled;
//  - a lookup by id, of the right generation or of the previous use's (stale): get_ref,
//    and then put, or copy and put both, or try_end and put;
//  - a claim with a stale id, which must fail;
//  - a new submitter, which takes the tag once it is back in the pool and starts the next
//    request on the slot (then ends it, or shares and drops it).
// The state is the word, every actor's program counter, references, ownership and pending
// effects, and ghost observations per request (deliveries and their status, tag releases,
// ended results, whether the tag is in the pool). A depth-first search with a visited set
// (the full state as key, so no collision can hide a state) visits every reachable state
// once. The state graph is acyclic (every step advances a program counter or retires a
// pending effect), so the number of complete interleavings is counted exactly on the way.
//
// Bounds: one slot, at most two uses of it (two generations), at most 5 actors of at most
// 4 instructions, at most 2 references per actor. Within these bounds the search is
// exhaustive; each scenario must visit at least a set number of states and see a list of
// transitions happen (e.g. a ref ending a request its owner still holds), so that a
// broken explorer cannot pass by exploring nothing.
//
// Invariants checked at every step (names as reported on "VIOLATION <name>" lines):
//   end_twice               more than one end attempt got EndResult::ended (I1)
//   lost_without_end        an end got `lost` although nobody ended the request (I1)
//   deliver_twice           a second delivery of one request (I2)
//   early_delivery          a delivery while the request's owner still holds it (I2)
//   release_twice           the tag went back to the pool twice (I3)
//   release_before_delivery the tag went back before the completion was delivered (I3)
//   delivered_after_reuse   ... and the slot even started its next request first
//   free_referenced         the slot was freed while an owner or a reference remained (I3)
//   wrong_generation        a reference or claim on a word of another generation, or on
//                           one not in flight (I4)
//   gen_changed             the generation moved other than at a start (I5)
//   ref_gen_changed         a reference holder's slot was restarted under it (I5)
//   refcount, owner_bit     the word's refs / owner / parked bits disagree with who holds
//   free_word_dirty         a free word with bits other than its generation
//   owner_rejected          a step of the owner (end, share, park, claim) did not apply
//   copy_rejected, put_rejected, start_on_busy_slot   a holder's step did not apply
// and at every terminal state (nobody can move): per request, exactly one delivery and
// one release; exactly one `ended` result, whose status was delivered, except when every
// holder dropped the request unended, when step_put_ref delivers ioerr and there is no
// `ended` result at all (end_count, wrong_status, no_delivery, tag_leak); the word free,
// generation kept (not_free_at_end); no actor stuck (stuck).
//
// Negative controls: built again with MQBLK_BROKEN_OWNERSHIP=1..4 (tests/model/
// CMakeLists.txt), each must be reported under its own invariant's name: END_TWICE as
// end_twice, EARLY_DELIVERY as early_delivery, NO_GENERATION as wrong_generation,
// FREE_REFERENCED as free_referenced. (WRONG_QUEUE is a check of Hctx, not of the word.)
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mqblk/detail/slot_word.hpp"

namespace {

using namespace mqblk;
using namespace mqblk::detail;

// The free word's generation before the first start. Not 0, so that the previous use's
// generation (a stale id) is a real number that step_get_ref must refuse.
constexpr uint64_t kBaseGen = 41;
constexpr unsigned kMaxActors = 5, kMaxEpochs = 2;
constexpr uint64_t gen_of_epoch(unsigned e) { return kBaseGen + 1 + e; }

// ---- programs ------------------------------------------------------------------------

enum class Op : uint8_t {
  end,          // owner: step_owner_end(status)
  share,        // owner: step_owner_share, becomes a Ref holder
  park,         // owner: step_park
  claim,        // parked owner: step_claim with its own generation
  claim_stale,  // anybody: step_claim with the previous use's generation: must fail
  read_gen,     // remember gen_of(word) for a later get_ref (RequestSlot::generation())
  get_ref,      // step_get_ref; on failure the actor is done
  copy_ref,     // step_copy_ref: one more reference for this actor
  copy_ref_to,  // step_copy_ref: one more reference, handed to actor `arg`
  give_ref_to,  // hand one reference to actor `arg` (no transition: a move)
  ref_end,      // step_ref_end(status)
  put_ref,      // step_put_ref
  start,        // take the tag once it is in the pool, step_start: owner of the next use
};
enum GenArg : uint8_t { kGenRead, kGenRight, kGenStale };

struct Instr {
  Op op;
  uint8_t arg = 0;  // a Status for end/ref_end, an actor for *_to, a GenArg for get_ref
};

struct ActorDesc {
  std::string name;
  std::vector<Instr> prog;
  bool owner_at_start = false;  // holds the first request (started before the search)
  bool waits_for_ref = false;   // a timer: moves only once somebody gave it a reference
};
using Config = std::vector<ActorDesc>;

constexpr uint8_t st(Status s) { return static_cast<uint8_t>(s); }
Instr end(Status s) { return {Op::end, st(s)}; }
Instr ref_end(Status s) { return {Op::ref_end, st(s)}; }
Instr get_ref(GenArg g) { return {Op::get_ref, g}; }
const Instr kShare{Op::share}, kPark{Op::park}, kClaim{Op::claim}, kPut{Op::put_ref},
    kCopy{Op::copy_ref}, kReadGen{Op::read_gen}, kStart{Op::start}, kClaimStale{Op::claim_stale};

// ---- state -----------------------------------------------------------------------------

// kPendPut: the owner's end kept a reference across its delivery (Step::put), dropped
// after it.
enum Pend : uint8_t { kPendDeliver = 1, kPendRelease = 2, kPendPut = 4 };
enum Own : uint8_t { kNotOwner = 0, kHolds = 1, kParkedOwner = 2 };

// Every field a byte (after the word), every byte named: the state is compared and
// hashed as raw bytes.
struct ActorState {
  uint8_t pc = 0;
  uint8_t refs = 0;   // counted references this actor holds
  uint8_t epoch = 0;  // the use of the slot (0 or 1) its references or ownership are of
  uint8_t own = kNotOwner;
  uint8_t pend = 0;     // effects of its last transition still to perform
  uint8_t pstatus = 0;  // the status to deliver
  uint8_t gen = 0;      // generation read by read_gen, relative to kBaseGen
  uint8_t unused = 0;
};
struct Ghost {  // per use of the slot
  uint8_t deliveries = 0, delivered_status = 0, releases = 0;
  uint8_t ended = 0, ended_status = 0;  // `ended` results, and the status of the first
  uint8_t dropped = 0;                  // delivered by step_put_ref: every holder let go
  uint8_t unused[2] = {};
};
struct State {
  uint64_t word = 0;
  ActorState a[kMaxActors] = {};
  Ghost g[kMaxEpochs] = {};
  uint8_t pool_free = 0;  // the tag is back in the pool
  uint8_t started = 0;    // uses of the slot so far
  uint8_t unused[6] = {};
  bool operator==(const State& o) const { return std::memcmp(this, &o, sizeof *this) == 0; }
};
static_assert(std::has_unique_object_representations_v<State>, "no padding in the key");
struct StateHash {
  size_t operator()(const State& s) const noexcept {
    return std::hash<std::string_view>{}(
        std::string_view(reinterpret_cast<const char*>(&s), sizeof s));
  }
};

// ---- what a search saw -----------------------------------------------------------------

// Transitions each scenario must see at least once: proof that the search reached the
// interesting corners, not only that it found nothing wrong.
enum Event : unsigned {
  ev_owner_ended,        // step_owner_end decided the status
  ev_owner_lost,         // ... of a request a Ref had ended (kEndedHeld): delivers that
  ev_owner_leaves_refs,  // ... while references remain: the last put frees the slot
  ev_share_delivers,     // share of a request a Ref had ended
  ev_ref_end_records,    // a Ref ended a request its owner holds: status recorded
  ev_ref_end_delivers,   // a Ref ended an unowned request: delivers now
  ev_ref_end_lost,       // a Ref's end came too late
  ev_get_ref_ok,
  ev_get_ref_refused,
  ev_put_frees,      // the last reference out frees an ended request
  ev_put_drops,      // the last reference out of an unended, unowned request: ioerr
  ev_claim,          // a parked owner claimed itself back
  ev_stale_refused,  // a claim with a stale id failed
  ev_restart,        // the slot started its next use
  ev_interleaved,    // an actor stepped while another had an effect pending
  ev_count
};
const char* const kEventNames[ev_count] = {
    "owner_ended",         "owner_lost",       "owner_leaves_refs", "share_delivers",
    "ref_end_records",     "ref_end_delivers", "ref_end_lost",      "get_ref_ok",
    "get_ref_refused",     "put_frees",        "put_drops",         "claim",
    "stale_claim_refused", "restart",          "effect_interleaved"};

struct Violation {
  uint64_t count = 0;
  std::string example;  // the first interleaving that showed it
};

std::string describe_word(uint64_t w) {
  static const char* const kStates[] = {"free", "in_flight", "ended_held", "ended"};
  std::string s = "{gen " + std::to_string(gen_of(w)) + " " + kStates[state_of(w)];
  if (has_owner(w)) s += " owner";
  if (w & kParked) s += " parked";
  if (state_of(w) == kEndedHeld) s += " status " + std::to_string(unsigned(status_of(w)));
  if (refs_of(w)) s += " refs " + std::to_string(refs_of(w));
  return s + "}";
}

const char* op_name(Op op) {
  switch (op) {
    case Op::end: return "owner_end";
    case Op::share: return "share";
    case Op::park: return "park";
    case Op::claim: return "claim";
    case Op::claim_stale: return "claim(stale)";
    case Op::read_gen: return "read_gen";
    case Op::get_ref: return "get_ref";
    case Op::copy_ref: return "copy_ref";
    case Op::copy_ref_to: return "copy_ref_to";
    case Op::give_ref_to: return "give_ref_to";
    case Op::ref_end: return "ref_end";
    case Op::put_ref: return "put_ref";
    case Op::start: return "start";
  }
  return "?";
}

// ---- the explorer ----------------------------------------------------------------------

class Explorer {
 public:
  explicit Explorer(const Config& cfg) : cfg_(cfg) {}

  // Explores every interleaving of cfg from its initial state; accumulates into the
  // totals (states and violations are shared by all configurations of a scenario).
  void run() {
    State s;
    Step first = step_start(kBaseGen << kGenShift);
    s.word = first.next;
    s.started = 1;
    for (size_t i = 0; i < cfg_.size(); ++i)
      if (cfg_[i].owner_at_start) s.a[i].own = kHolds;
    interleavings += explore(s);
  }

  uint64_t states() const { return memo_.size(); }
  uint64_t transitions = 0, terminals = 0, interleavings = 0;
  std::array<uint64_t, ev_count> events{};
  std::vector<std::pair<std::string, Violation>> violations;

 private:
  // Enough to name the step when a violation's interleaving is printed: the actor's
  // state before it, and the word after.
  struct TraceStep {
    int actor;
    ActorState before;
    uint64_t word;
  };

  // Number of complete interleavings from s (saturating), memoized by state.
  uint64_t explore(const State& s) {
    if (auto it = memo_.find(s); it != memo_.end()) return it->second;
    uint64_t paths = 0;
    bool moved = false;
    for (int i = 0; i < int(cfg_.size()); ++i) {
      State n = s;
      found_.clear();
      if (!step(n, i)) continue;
      moved = true;
      ++transitions;
      for (int j = 0; j < int(cfg_.size()); ++j)
        if (j != i && s.a[j].pend) ++events[ev_interleaved];
      check_global(n);
      trace_.push_back({i, s.a[i], n.word});
      report_found();
      uint64_t sub = explore(n);
      paths = paths + sub < paths ? UINT64_MAX : paths + sub;
      trace_.pop_back();
    }
    if (!moved) {
      ++terminals;
      found_.clear();
      check_terminal(s);
      report_found();
      paths = 1;
    }
    memo_.emplace(s, paths);
    return paths;
  }

  void violate(const char* name) {
    for (const char* f : found_)
      if (f == name) return;
    found_.push_back(name);
  }
  void report_found() {
    for (const char* name : found_) {
      Violation* v = nullptr;
      for (auto& [n, vv] : violations)
        if (n == name) v = &vv;
      if (!v) {
        violations.push_back({name, Violation{}});
        v = &violations.back().second;
        v->example = format_trace();
      }
      ++v->count;
    }
  }
  std::string format_trace() const {
    std::string out = "  start: " + describe_word(step_start(kBaseGen << kGenShift).next) + "\n";
    for (const auto& t : trace_)
      out += "  " + cfg_[t.actor].name + ": " + describe_step(t.actor, t.before) + " -> " +
             describe_word(t.word) + "\n";
    return out;
  }

  std::string describe_step(int i, const ActorState& a) const {
    if (a.pend & kPendDeliver) return "deliver(" + std::string(to_string(Status(a.pstatus))) + ")";
    if (a.pend & kPendRelease) return "release_tag";
    if (a.pend & kPendPut) return "put_ref (kept for its delivery)";
    const Instr in = cfg_[i].prog[a.pc];
    std::string out = op_name(in.op);
    if (in.op == Op::end || in.op == Op::ref_end)
      out += "(" + std::string(to_string(Status(in.arg))) + ")";
    if (in.op == Op::get_ref) out += "(gen " + std::to_string(wanted_gen(in, a)) + ")";
    if (in.op == Op::copy_ref_to || in.op == Op::give_ref_to) out += " " + cfg_[in.arg].name;
    return out;
  }
  static uint64_t wanted_gen(const Instr& in, const ActorState& a) {
    return in.arg == kGenRead    ? kBaseGen + a.gen
           : in.arg == kGenRight ? gen_of_epoch(0)
                                 : gen_of_epoch(0) - 1;
  }

  bool owner_holds(const State& s, unsigned e) const {
    for (size_t i = 0; i < cfg_.size(); ++i)
      if (s.a[i].own != kNotOwner && s.a[i].epoch == e) return true;
    return false;
  }
  unsigned refs_held(const State& s, unsigned e) const {
    unsigned n = 0;
    for (size_t i = 0; i < cfg_.size(); ++i)
      if (s.a[i].epoch == e) n += s.a[i].refs;
    return n;
  }
  static int epoch_of_gen(uint64_t g) { return int(g) - int(kBaseGen) - 1; }

  void record_end(State& s, unsigned e, EndResult r, Status status) {
    Ghost& g = s.g[e];
    if (r == EndResult::ended) {
      if (g.ended++ == 0) g.ended_status = st(status);
      if (g.ended > 1) violate("end_twice");
    } else if (g.ended == 0) {
      violate("lost_without_end");
    }
  }
  // The transition that decided to free the slot: nobody may still hold it.
  void check_free_decision(const State& s, unsigned e) {
    if (refs_held(s, e) != 0 || owner_holds(s, e)) violate("free_referenced");
  }
  static void set_effects(ActorState& a, const Step& r) {
    a.pend =
        (r.deliver ? kPendDeliver : 0) | (r.release ? kPendRelease : 0) | (r.put ? kPendPut : 0);
    a.pstatus = st(r.status);
  }

  // Performs actor i's next step on n; false when it has none (done or blocked).
  bool step(State& n, int i) {
    ActorState& a = n.a[i];
    const ActorDesc& d = cfg_[i];

    if (a.pend & kPendDeliver) {  // the delivery after the CAS: the submitter's callback
      Ghost& g = n.g[a.epoch];
      if (owner_holds(n, a.epoch) || (gen_of(n.word) == gen_of_epoch(a.epoch) && has_owner(n.word)))
        violate("early_delivery");
      if (g.deliveries > 0) violate("deliver_twice");
      // The tag went back and the slot started its next request before this completion
      // reached its submitter (see release_before_delivery).
      if (n.started > a.epoch + 1) violate("delivered_after_reuse");
      if (g.deliveries < 3) ++g.deliveries;
      g.delivered_status = a.pstatus;
      a.pend &= ~kPendDeliver;
      return true;
    }
    if (a.pend & kPendRelease) {  // the tag goes back to the pool
      Ghost& g = n.g[a.epoch];
      if (g.deliveries == 0) violate("release_before_delivery");
      if (g.releases > 0 || n.pool_free) violate("release_twice");
      check_free_decision(n, a.epoch);
      if (g.releases < 3) ++g.releases;
      n.pool_free = 1;
      a.pend = 0;
      return true;
    }
    if (a.pend & kPendPut) {  // the owner's reference, kept for its delivery, goes now
      a.pend &= ~kPendPut;
      return put_ref(n, a, a.epoch);
    }
    if (a.pc >= d.prog.size()) return false;
    if (d.waits_for_ref && a.pc == 0 && a.refs == 0) return false;

    const Instr in = d.prog[a.pc];
    const uint64_t w = n.word;
    const unsigned e = a.epoch;
    const Status s = static_cast<Status>(in.arg);
    ++a.pc;
    switch (in.op) {
      case Op::start: {
        if (!n.pool_free) {  // waits for the tag
          --a.pc;
          return false;
        }
        n.pool_free = 0;
        Step r = step_start(w);
        if (!r.ok || n.started >= kMaxEpochs) {
          violate("start_on_busy_slot");
          a.pc = uint8_t(d.prog.size());
          return true;
        }
        n.word = r.next;
        a.epoch = n.started++;
        a.own = kHolds;
        ++events[ev_restart];
        return true;
      }
      case Op::end: {
        Step r = step_owner_end(w, s);
        a.own = kNotOwner;
        if (!r.ok) {
          violate("owner_rejected");
          a.pc = uint8_t(d.prog.size());
          return true;
        }
        n.word = r.next;
        if (r.put) a.refs = 1;
        record_end(n, e, r.result, s);
        ++events[r.result == EndResult::ended ? ev_owner_ended : ev_owner_lost];
        if (refs_of(w) != 0) ++events[ev_owner_leaves_refs];
        if (r.release) check_free_decision(n, e);
        set_effects(a, r);
        return true;
      }
      case Op::share: {
        Step r = step_owner_share(w);
        a.own = kNotOwner;
        if (!r.ok) {
          violate("owner_rejected");
          a.pc = uint8_t(d.prog.size());
          return true;
        }
        n.word = r.next;
        a.refs = 1;
        if (r.deliver) ++events[ev_share_delivers];
        set_effects(a, r);
        return true;
      }
      case Op::park:
      case Op::claim: {
        Step r = in.op == Op::park ? step_park(w) : step_claim(w, gen_of_epoch(e));
        if (!r.ok) {
          violate("owner_rejected");
          a.own = kNotOwner;
          a.pc = uint8_t(d.prog.size());
          return true;
        }
        n.word = r.next;
        a.own = in.op == Op::park ? kParkedOwner : kHolds;
        if (in.op == Op::claim) ++events[ev_claim];
        return true;
      }
      case Op::claim_stale: {
        Step r = step_claim(w, gen_of_epoch(0) - 1);
        if (r.ok) {
          violate("wrong_generation");
          n.word = r.next;
        } else {
          ++events[ev_stale_refused];
        }
        return true;
      }
      case Op::read_gen: a.gen = uint8_t(gen_of(w) - kBaseGen); return true;
      case Op::get_ref: {
        uint64_t want = wanted_gen(in, a);
        Step r = step_get_ref(w, want);
        if (!r.ok) {
          ++events[ev_get_ref_refused];
          a.pc = uint8_t(d.prog.size());
          return true;
        }
        if (state_of(w) != kInFlight || gen_of(w) != want) violate("wrong_generation");
        int ge = epoch_of_gen(gen_of(w));
        if (ge < 0 || ge >= int(n.started)) {
          violate("gen_changed");
          a.pc = uint8_t(d.prog.size());
          return true;
        }
        n.word = r.next;
        a.refs = 1;
        a.epoch = uint8_t(ge);
        ++events[ev_get_ref_ok];
        return true;
      }
      case Op::copy_ref:
      case Op::copy_ref_to: {
        Step r = step_copy_ref(w);
        if (!r.ok || a.refs == 0) {
          violate("copy_rejected");
          return true;
        }
        n.word = r.next;
        ActorState& to = in.op == Op::copy_ref ? a : n.a[in.arg];
        ++to.refs;
        to.epoch = uint8_t(e);
        return true;
      }
      case Op::give_ref_to: {
        if (a.refs == 0) return true;
        --a.refs;
        ++n.a[in.arg].refs;
        n.a[in.arg].epoch = uint8_t(e);
        return true;
      }
      case Op::ref_end: {
        if (a.refs == 0) return true;  // (a program error: only holders end)
        Step r = step_ref_end(w, s);
        if (!r.ok) {
          record_end(n, e, EndResult::lost, s);
          ++events[ev_ref_end_lost];
          return true;
        }
        n.word = r.next;
        record_end(n, e, r.result, s);
        ++events[r.deliver ? ev_ref_end_delivers : ev_ref_end_records];
        set_effects(a, r);
        return true;
      }
      case Op::put_ref:
        if (a.refs == 0) return true;
        return put_ref(n, a, e);
    }
    return true;
  }

  bool put_ref(State& n, ActorState& a, unsigned e) {
    Step r = step_put_ref(n.word);
    --a.refs;
    if (!r.ok) {
      violate("put_rejected");
      return true;
    }
    n.word = r.next;
    if (r.release) {
      check_free_decision(n, e);
      ++events[r.deliver ? ev_put_drops : ev_put_frees];
    }
    if (r.deliver) n.g[e].dropped = 1;
    set_effects(a, r);
    return true;
  }

  // After every step: the word agrees with who holds what, and keeps its generation.
  void check_global(const State& n) {
    const uint64_t w = n.word;
    const int cur = epoch_of_gen(gen_of(w));
    if (cur != int(n.started) - 1) {
      violate("gen_changed");
      return;
    }
    if (state_of(w) == kFree && (w & ~kGenMask) != 0) violate("free_word_dirty");
    unsigned refs = 0;
    bool owner = false, parked = false;
    for (size_t i = 0; i < cfg_.size(); ++i) {
      const ActorState& a = n.a[i];
      if (a.refs && a.epoch != cur) violate("ref_gen_changed");
      if (a.own != kNotOwner && a.epoch != cur) violate("owner_bit");
      if (a.epoch != cur) continue;
      refs += a.refs;
      owner |= a.own != kNotOwner;
      parked |= a.own == kParkedOwner;
    }
    if (refs != refs_of(w)) violate("refcount");
    if (owner != has_owner(w) || parked != bool(w & kParked)) violate("owner_bit");
  }

  // Nobody can move: every request ended, was delivered and freed exactly once.
  void check_terminal(const State& s) {
    for (size_t i = 0; i < cfg_.size(); ++i) {
      const ActorState& a = s.a[i];
      bool done = a.pc >= cfg_[i].prog.size() && a.pend == 0 && a.refs == 0;
      bool never_given = cfg_[i].waits_for_ref && a.pc == 0 && a.refs == 0;
      bool waits_for_tag = a.pc < cfg_[i].prog.size() && cfg_[i].prog[a.pc].op == Op::start;
      if (!done && !never_given && !waits_for_tag) violate("stuck");
    }
    for (unsigned e = 0; e < s.started; ++e) {
      const Ghost& g = s.g[e];
      if (g.deliveries == 0) violate("no_delivery");
      if (g.releases == 0) violate("tag_leak");
      if (g.dropped) {
        // Every holder let go unended: put_ref delivered ioerr, and nobody got `ended`.
        if (g.ended != 0 || g.delivered_status != st(Status::ioerr)) violate("end_count");
      } else {
        if (g.ended != 1) violate("end_count");
        if (g.deliveries && g.ended && g.delivered_status != g.ended_status)
          violate("wrong_status");
      }
    }
    if (!s.pool_free) violate("tag_leak");
    if (s.word != (gen_of_epoch(s.started - 1) << kGenShift)) violate("not_free_at_end");
  }

  const Config& cfg_;
  std::unordered_map<State, uint64_t, StateHash> memo_;
  std::vector<TraceStep> trace_;
  std::vector<const char*> found_;
};

// ---- scenarios -------------------------------------------------------------------------

ActorDesc owner(const std::string& variant, std::vector<Instr> prog) {
  return ActorDesc{"owner[" + variant + "]", std::move(prog), true, false};
}
// The owner's choices that need nobody else. The timer's are in with_timer().
std::vector<ActorDesc> owner_variants() {
  return {
      owner("end", {end(Status::ok)}),
      owner("drop", {end(Status::ioerr)}),  // Owned's destructor: end_owned(ioerr)
      owner("share,try_end,put", {kShare, ref_end(Status::ok), kPut}),
      owner("share,put", {kShare, kPut}),  // gives up the data and lets go unended
      owner("park,claim,end", {kPark, kClaim, end(Status::ok)}),
  };
}
ActorDesc scan(const char* name, Status s) {
  return ActorDesc{name, {kReadGen, get_ref(kGenRead), ref_end(s), kPut}};
}
ActorDesc timeout_scan() { return scan("timeout_scan", Status::timeout); }
ActorDesc teardown() { return scan("teardown", Status::cancelled); }
std::vector<ActorDesc> lookup_variants(GenArg g) {
  std::string n = g == kGenStale ? "lookup(stale)" : "lookup";
  return {
      ActorDesc{n + "[put]", {get_ref(g), kPut}},
      ActorDesc{n + "[copy,put,put]", {get_ref(g), kCopy, kPut, kPut}},
      ActorDesc{n + "[try_end,put]", {get_ref(g), ref_end(Status::medium), kPut}},
  };
}
std::vector<ActorDesc> restart_variants() {
  return {
      ActorDesc{"next_request[end]", {kStart, end(Status::ok)}},
      ActorDesc{"next_request[share,put]", {kStart, kShare, kPut}},
  };
}
// The owner hands its shared Ref to a timer (Hctx::complete_after), or copies it to one
// and goes on as a Ref itself. The timer is actor `t`.
std::vector<Config> with_timer(uint8_t t, const std::vector<ActorDesc>& others) {
  ActorDesc timer{"timer", {ref_end(Status::timeout), kPut}, false, true};
  std::vector<ActorDesc> owners = {
      owner("share,give_to_timer", {kShare, {Op::give_ref_to, t}}),
      owner("share,copy_to_timer,put", {kShare, {Op::copy_ref_to, t}, kPut}),
      owner("share,copy_to_timer,try_end,put",
            {kShare, {Op::copy_ref_to, t}, ref_end(Status::ok), kPut}),
  };
  std::vector<Config> out;
  for (auto& o : owners) {
    Config c{o};
    for (auto& x : others) c.push_back(x);
    c.insert(c.begin() + t, timer);
    out.push_back(c);
  }
  return out;
}

// All combinations: one actor from each list.
std::vector<Config> product(const std::vector<std::vector<ActorDesc>>& lists) {
  std::vector<Config> out{Config{}};
  for (const auto& l : lists) {
    std::vector<Config> next;
    for (const auto& c : out)
      for (const auto& a : l) {
        Config x = c;
        x.push_back(a);
        next.push_back(std::move(x));
      }
    out = std::move(next);
  }
  return out;
}

struct Scenario {
  const char* name;
  std::vector<Config> configs;
  // Fewer means the explorer is broken. Set somewhat under what the search visits now,
  // so that a transition that gains or loses a few states does not trip it, while an
  // explorer that stops early or skips interleavings does.
  uint64_t min_states;
  std::vector<Event> must_see;  // so is one that never saw one of these happen
};

struct Result {
  uint64_t states = 0, transitions = 0, terminals = 0, interleavings = 0;
  std::array<uint64_t, ev_count> events{};
  std::vector<std::pair<std::string, Violation>> violations;
};

Result explore(const Scenario& sc) {
  Result res;
  for (const Config& c : sc.configs) {
    Explorer x(c);
    x.run();
    res.states += x.states();
    res.transitions += x.transitions;
    res.terminals += x.terminals;
    res.interleavings = res.interleavings + x.interleavings < res.interleavings
                            ? UINT64_MAX
                            : res.interleavings + x.interleavings;
    for (unsigned i = 0; i < ev_count; ++i) res.events[i] += x.events[i];
    for (auto& [name, v] : x.violations) {
      bool merged = false;
      for (auto& [n2, v2] : res.violations)
        if (n2 == name) {
          v2.count += v.count;
          merged = true;
        }
      if (!merged) res.violations.push_back({name, v});
    }
  }
  return res;
}

void check(const Scenario& sc) {
  auto t0 = std::chrono::steady_clock::now();
  Result r = explore(sc);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "[model] %-24s configurations %zu, states %llu, transitions %llu, terminal states "
      "%llu, interleavings %llu, %.2f s\n",
      sc.name, sc.configs.size(), (unsigned long long)r.states, (unsigned long long)r.transitions,
      (unsigned long long)r.terminals, (unsigned long long)r.interleavings, secs);
  for (auto& [name, v] : r.violations) {
    // The negative controls' ctest greps these lines: "VIOLATION <name> ".
    std::printf("VIOLATION %s in %s: %llu times; first interleaving:\n%s", name.c_str(), sc.name,
                (unsigned long long)v.count, v.example.c_str());
    ADD_FAILURE() << "invariant " << name << " violated in scenario " << sc.name;
  }
  std::fflush(stdout);
  EXPECT_GE(r.states, sc.min_states) << "the explorer visited too few states";
  for (Event e : sc.must_see)
    EXPECT_GT(r.events[e], 0u) << sc.name << " never saw " << kEventNames[e];
}

// The owner alone and with the timer its share() feeds; the timeout scan races both.
TEST(SlotModel, OwnerTimerAndTimeoutScan) {
  std::vector<Config> cs = product({owner_variants(), {timeout_scan()}});
  for (auto& c : with_timer(1, {timeout_scan()})) cs.push_back(c);
  for (auto& o : owner_variants()) cs.push_back({o});  // alone: the plain protocol
  check({"owner_timer_scan",
         cs,
         400,
         {ev_owner_ended, ev_owner_lost, ev_owner_leaves_refs, ev_share_delivers,
          ev_ref_end_records, ev_ref_end_delivers, ev_ref_end_lost, ev_get_ref_ok,
          ev_get_ref_refused, ev_put_frees, ev_put_drops, ev_claim, ev_interleaved}});
}

// The owner, the timeout scan and a lookup of the right id that may copy its Ref or end.
TEST(SlotModel, ScanAndLookup) {
  check({"scan_lookup",
         product({owner_variants(), {timeout_scan()}, lookup_variants(kGenRight)}),
         1800,
         {ev_owner_ended, ev_owner_lost, ev_owner_leaves_refs, ev_share_delivers,
          ev_ref_end_records, ev_ref_end_delivers, ev_ref_end_lost, ev_get_ref_ok,
          ev_get_ref_refused, ev_put_frees, ev_put_drops, ev_claim, ev_interleaved}});
}

// A lookup with the previous use's id must find nothing; teardown races the owner.
TEST(SlotModel, StaleLookupAndTeardown) {
  check({"stale_lookup_teardown",
         product({owner_variants(), lookup_variants(kGenStale), {teardown()}}),
         850,
         {ev_owner_ended, ev_owner_lost, ev_get_ref_ok, ev_get_ref_refused, ev_put_frees,
          ev_put_drops, ev_claim}});
}

// Four parties: owner, teardown, the timeout scan and a lookup.
TEST(SlotModel, TeardownScanAndLookup) {
  check({"teardown_scan_lookup",
         product({owner_variants(), {teardown()}, {timeout_scan()}, lookup_variants(kGenRight)}),
         10000,
         {ev_owner_ended, ev_owner_lost, ev_owner_leaves_refs, ev_share_delivers,
          ev_ref_end_records, ev_ref_end_delivers, ev_ref_end_lost, ev_get_ref_ok,
          ev_get_ref_refused, ev_put_frees, ev_put_drops, ev_claim, ev_interleaved}});
}

// A parked request: the claim with the right id succeeds, a stale claim never does, and
// teardown and the timeout scan record their status for the owner to deliver.
TEST(SlotModel, ParkAndClaim) {
  std::vector<ActorDesc> parked = {
      owner("park,claim,end", {kPark, kClaim, end(Status::ok)}),
      owner("park,claim,drop", {kPark, kClaim, end(Status::ioerr)}),
      owner("park,claim,share,put", {kPark, kClaim, kShare, kPut}),
  };
  check(
      {"park_claim",
       product({parked, {ActorDesc{"stale_claim", {kClaimStale}}}, {teardown()}, {timeout_scan()}}),
       1100,
       {ev_owner_ended, ev_owner_lost, ev_ref_end_records, ev_ref_end_lost, ev_claim,
        ev_stale_refused, ev_share_delivers}});
}

// The slot's next use: a new submitter takes the tag once it is back and starts the next
// request. The old id must never match it, and nobody may hold a reference of the old use
// across the restart; the scan reads whichever generation is current.
TEST(SlotModel, Reuse) {
  check({"reuse",
         product(
             {owner_variants(), restart_variants(), {timeout_scan()}, lookup_variants(kGenRight)}),
         7000,
         {ev_owner_ended, ev_owner_lost, ev_owner_leaves_refs, ev_get_ref_ok, ev_get_ref_refused,
          ev_put_frees, ev_put_drops, ev_restart, ev_interleaved}});
}

// The timer and the owner's own Ref race the timeout scan and a lookup.
TEST(SlotModel, TimerScanAndLookup) {
  std::vector<Config> cs;
  for (auto& l : lookup_variants(kGenRight))
    for (auto& c : with_timer(1, {timeout_scan(), l})) cs.push_back(c);
  check({"timer_scan_lookup",
         cs,
         3000,
         {ev_share_delivers, ev_ref_end_delivers, ev_ref_end_lost, ev_get_ref_ok,
          ev_get_ref_refused, ev_put_frees, ev_interleaved}});
}

// Five parties at once: the owner, the timeout scan, teardown, a lookup of the right id
// and one of the previous use's.
TEST(SlotModel, FiveParties) {
  check({"five_parties",
         product({owner_variants(),
                  {timeout_scan()},
                  {teardown()},
                  lookup_variants(kGenRight),
                  {lookup_variants(kGenStale)[0]}}),
         20000,
         {ev_owner_ended, ev_owner_lost, ev_owner_leaves_refs, ev_share_delivers,
          ev_ref_end_records, ev_ref_end_delivers, ev_ref_end_lost, ev_get_ref_ok,
          ev_get_ref_refused, ev_put_frees, ev_put_drops, ev_claim, ev_interleaved}});
}

// The next use of the slot with five parties: the old owner, the next submitter, the
// timeout scan, teardown and a lookup of the old id.
TEST(SlotModel, ReuseFiveParties) {
  check({"reuse_five_parties",
         product({owner_variants(),
                  restart_variants(),
                  {timeout_scan()},
                  {teardown()},
                  {lookup_variants(kGenRight)[0]}}),
         15000,
         {ev_owner_ended, ev_owner_lost, ev_owner_leaves_refs, ev_get_ref_ok, ev_get_ref_refused,
          ev_put_frees, ev_put_drops, ev_restart, ev_interleaved}});
}

// The timer's Ref, teardown and the next use of the slot.
TEST(SlotModel, TimerTeardownReuse) {
  std::vector<Config> cs;
  for (auto& r : restart_variants())
    for (auto& c : with_timer(1, {teardown(), r})) cs.push_back(c);
  check({"timer_teardown_reuse",
         cs,
         750,
         {ev_owner_ended, ev_ref_end_records, ev_ref_end_delivers, ev_ref_end_lost, ev_put_frees,
          ev_share_delivers, ev_restart, ev_interleaved}});
}

}  // namespace
