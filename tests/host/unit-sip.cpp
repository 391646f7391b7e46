// The SIP engine by itself (issue 16), against real far ends on loopback inside a private
// network namespace (tests/host/netns.sh): baresip answering, playing an espeak-ng phrase and
// recording what it hears; SIPp scenarios that are busy, ring forever, refuse, or ask for
// digest credentials. The test thread runs the io_context, so it is the engine's io thread.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/time.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include <boost/asio/io_context.hpp>

#include "../../host/src/sip/sip_engine.hpp"
#include "parley/host/config.hpp"
#include "test_phone.hpp"

using namespace parley::test;
namespace sip = parley::host::sip;

namespace {

struct Recorder : sip::CallEvents {
  bool rang = false, answered_ = false;
  sip::Codec codec = sip::Codec::pcmu;
  std::string audio_bytes;
  std::string digits;
  std::optional<sip::CallEnd> end;
  std::function<void()> on_answer;
  void ringing() override { rang = true; }
  void answered(sip::Codec c) override {
    answered_ = true;
    codec = c;
    if (on_answer) on_answer();
  }
  void audio(std::string pcm16) override { audio_bytes += pcm16; }
  void dtmf(char digit) override { digits.push_back(digit); }
  void ended(const sip::CallEnd& e) override { end = e; }
};

// Runs the io_context until `done` or timeout; true when done.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done, int timeout_ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    io.restart();
    io.run_for(std::chrono::milliseconds(10));
  }
  return true;
}

void run_for(boost::asio::io_context& io, int ms) {
  run_until(io, [] { return false; }, ms);
}

parley::host::SipConfig sip_config(int trunk_port, const std::string& transport = "udp") {
  parley::host::SipConfig c;
  c.listen = "127.0.0.1:0";
  c.rtp_port_min = 20000;
  c.rtp_port_max = 20998;
  c.ring_timeout_s = 2;
  parley::host::SipTrunkConfig trunk;
  trunk.id = "local";
  trunk.address = "127.0.0.1:" + std::to_string(trunk_port);
  trunk.transport = transport;
  trunk.numbers = {"+15550001111"};
  c.trunks.push_back(trunk);
  return c;
}

std::unique_ptr<sip::SipEngine> start_engine(boost::asio::io_context& io,
                                             const parley::host::SipConfig& c,
                                             sip::SipEngine::InboundHandler inbound = {}) {
  auto engine = sip::SipEngine::start(io, c, {"+15550001111"}, std::move(inbound));
  INFO((engine ? "" : engine.error().message));
  REQUIRE(engine.ok());
  return std::move(*engine);
}

// One reply a SIPp UAS sends to the request it last received: the status line, the dialog's
// headers echoed as SIP requires (our To tag `tag`), `cseq` (the request's own by default),
// then `extra` header lines (each ending in "\n"). `attributes` go on the <send> element.
std::string sipp_reply(const std::string& status, const std::string& extra = "",
                       const std::string& tag = "01", const std::string& cseq = "[last_CSeq:]",
                       const std::string& attributes = "") {
  return "  <send" + attributes + "><![CDATA[\nSIP/2.0 " + status +
         "\n[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]SIPpTag" + tag +
         "[call_number]\n[last_Call-ID:]\n" + cseq + "\n" + extra +
         "Content-Length: 0\n\n]]></send>\n";
}

std::string sipp_scenario(const std::string& name, const std::string& body) {
  return "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"" + name +
         "\">\n" + body + "</scenario>\n";
}

// A UAS scenario that answers an INVITE with `code` (after 100 Trying) and takes the ACK.
std::string refusing_scenario(int code, const std::string& reason) {
  return sipp_scenario("refuse", "  <recv request=\"INVITE\" />\n" +
                                     sipp_reply(std::to_string(code) + " " + reason) +
                                     "  <recv request=\"ACK\" />\n");
}

// Rings (180) and never answers: takes the CANCEL (200) and ends the INVITE with 487.
const std::string kRingingScenario = sipp_scenario(
    "ring",
    R"xml(  <recv request="INVITE">
    <action>
      <ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="cseqn" />
    </action>
  </recv>
)xml" + sipp_reply("180 Ringing") +
        "  <recv request=\"CANCEL\" />\n" + sipp_reply("200 OK") +
        sipp_reply("487 Request Terminated", "", "01", "CSeq: [$cseqn] INVITE") +
        "  <recv request=\"ACK\" />\n");

// Asks for digest credentials (401), checks them on the second INVITE and then answers 486 when
// they are right (403 when not): the outcome says whether the engine authenticated.
const std::string kDigestScenario = sipp_scenario(
    "digest",
    "  <recv request=\"INVITE\" />\n" +
        sipp_reply("401 Unauthorized",
                   "WWW-Authenticate: Digest realm=\"trunk.test\", nonce=\"4f2a91c0e1\", "
                   "algorithm=MD5\n") +
        R"xml(  <recv request="ACK" />
  <recv request="INVITE">
    <action>
      <verifyauth assign_to="authvalid" username="parley" password="s3cret-trunk" />
    </action>
  </recv>
  <nop hide="true" test="authvalid" next="good" />
)xml" + sipp_reply("403 Forbidden", "", "02", "[last_CSeq:]", " next=\"done\"") +
        "  <label id=\"good\" />\n" + sipp_reply("486 Busy Here", "", "02") +
        "  <label id=\"done\" />\n  <recv request=\"ACK\" />\n");

}  // namespace

TEST_CASE("sip: an outbound call to baresip, each side hears the other", "[sip]") {
  TempDir dir;
  // baresip's microphone: 2 s of quiet, then the caller's phrase, at 8 kHz.
  const Samples phrase = espeak_16k("I would like to book a table for two people");
  REQUIRE(!phrase.empty());
  // (baresip hangs up when its microphone file ends: 20 s of it.)
  const Samples mic = resample(concat({Samples(2 * kSpeechRate, 0), phrase, Samples(15 * kSpeechRate, 0)}),
                               16000, 8000);
  write_wav(dir.file("mic.wav"), mic, 8000);
  BaresipOptions bo;
  bo.microphone_wav = dir.file("mic.wav");
  Baresip far(dir, bo);
  REQUIRE(far.ready());

  boost::asio::io_context io;
  auto config = sip_config(bo.sip_port);
  auto engine = start_engine(io, config);
  auto events = std::make_shared<Recorder>();
  // Our side speaks from the answer: the whole phrase is handed over at once and the engine
  // sends it at 50 packets a second.
  const Samples ours = concat({Samples(kSpeechRate / 2, 0),
                               espeak_16k("your table is booked for seven o'clock tonight")});
  std::uint64_t id = 0;
  events->on_answer = [&] {
    std::string bytes(reinterpret_cast<const char*>(ours.data()), ours.size() * 2);
    for (std::size_t at = 0; at < bytes.size(); at += 640) engine->send_audio(id, bytes.substr(at, 640));
  };
  id = engine->call({"+15550001111", "+15550002222", &config.trunks[0], ""}, events);
  REQUIRE(run_until(io, [&] { return events->answered_ || events->end; }, 5000));
  INFO(far.log());
  REQUIRE(events->answered_);
  CHECK(events->codec == sip::Codec::pcmu);  // baresip's first
  run_for(io, 7500);
  engine->hangup(id);
  REQUIRE(run_until(io, [&] { return events->end.has_value(); }, 3000));
  CHECK(events->end->status == "completed");
  CHECK(events->end->reason == "local_hangup");

  // We heard baresip's phrase (8 kHz G.711 brought to 16 kHz).
  const Samples heard = from_bytes(events->audio_bytes);
  if (const char* dump = std::getenv("PARLEY_SIP_DUMP")) {
    write_wav(std::string(dump) + "/heard.wav", heard, 16000);
    write_wav(std::string(dump) + "/recorded.wav", far.recording(), 8000);
    write_wav(std::string(dump) + "/ours.wav", ours, 16000);
  }
  CHECK(heard.size() > 6 * kSpeechRate);
  // The same utterance: pocketsphinx cannot tell (telephone band, see test_phone.hpp), the
  // loudness envelope can. A different sentence does not match.
  const double match = envelope_match(phrase, heard, 16000);
  const double other = envelope_match(espeak_16k("the weather is fine in the north today"), heard, 16000);
  INFO("we heard the phrase: match " << match << ", another sentence " << other);
  CHECK(match > 0.9);
  CHECK(other < 0.8);

  // baresip heard ours.
  REQUIRE(far.process().wait(100) == -1);  // still up
  far.process().stop();
  const Samples recorded = far.recording();
  CHECK(recorded.size() > 3 * 8000);
  const double it_match = envelope_match(ours, resample(recorded, 8000, 16000), 16000);
  INFO("baresip heard ours: match " << it_match);
  CHECK(it_match > 0.9);
  const auto& c = engine->counters();
  CHECK(c.rtp_in.load() > 300);
  CHECK(c.rtp_out.load() > 300);
  CHECK(c.rtp_wrong_source.load() == 0);
  // Every packet sent is timed against its 20 ms slot (bench/phone reads the histogram); read
  // before rtp_out, which counts a packet first.
  std::uint64_t timed = 0;
  for (const auto& bucket : c.send_lag) timed += bucket.load();
  CHECK(timed > 300);
  CHECK(timed <= c.rtp_out.load());
}

TEST_CASE("sip: busy, no answer, refused and digest auth, from SIPp", "[sip]") {
  TempDir dir;
  boost::asio::io_context io;
  const int trunk_port = 5090;

  auto place = [&](parley::host::SipConfig& config, const std::string& password) {
    auto engine = start_engine(io, config);
    auto events = std::make_shared<Recorder>();
    engine->call({"+15550001111", "+15550009999", &config.trunks[0], password}, events);
    REQUIRE(run_until(io, [&] { return events->end.has_value(); }, 8000));
    return std::make_pair(*events->end, events->rang);
  };

  SECTION("busy") {
    Sipp far(dir, refusing_scenario(486, "Busy Here"), trunk_port);
    auto config = sip_config(trunk_port);
    auto [end, rang] = place(config, "");
    CHECK(end.status == "busy");
    CHECK(end.sip_code == 486);
    CHECK(far.wait(5000) == 0);
  }
  SECTION("no answer: it rings past the ring timeout, and the INVITE is cancelled") {
    Sipp far(dir, kRingingScenario, trunk_port);
    auto config = sip_config(trunk_port);
    const auto t0 = std::chrono::steady_clock::now();
    auto [end, rang] = place(config, "");
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(rang);
    CHECK(end.status == "no-answer");
    CHECK(end.reason == "ring_timeout");
    CHECK(took >= std::chrono::milliseconds(1900));  // ring_timeout_s = 2
    INFO(far.log());
    CHECK(far.wait(5000) == 0);  // it saw the CANCEL and the ACK of its 487
  }
  SECTION("refused: failed with the SIP code") {
    Sipp far(dir, refusing_scenario(503, "Service Unavailable"), trunk_port);
    auto config = sip_config(trunk_port);
    auto [end, rang] = place(config, "");
    CHECK(end.status == "failed");
    CHECK(end.sip_code == 503);
    CHECK(far.wait(5000) == 0);
  }
  SECTION("digest auth: the right credentials pass the trunk's challenge") {
    Sipp far(dir, kDigestScenario, trunk_port);
    auto config = sip_config(trunk_port);
    config.trunks[0].username = "parley";
    config.trunks[0].password_env = "UNUSED";
    auto [end, rang] = place(config, "s3cret-trunk");
    CHECK(end.status == "busy");  // 486 comes only after verifyauth passed
    CHECK(end.sip_code == 486);
  }
  SECTION("digest auth: a wrong password is refused by the trunk") {
    Sipp far(dir, kDigestScenario, trunk_port);
    auto config = sip_config(trunk_port);
    config.trunks[0].username = "parley";
    config.trunks[0].password_env = "UNUSED";
    auto [end, rang] = place(config, "wrong");
    CHECK(end.status == "failed");
    CHECK(end.sip_code == 403);
  }
  SECTION("over TCP") {
    Sipp far(dir, refusing_scenario(486, "Busy Here"), trunk_port, {"-t", "t1"});
    auto config = sip_config(trunk_port, "tcp");
    auto [end, rang] = place(config, "");
    CHECK(end.status == "busy");
    CHECK(end.sip_code == 486);
  }
}

TEST_CASE("sip: transfer as a REFER: accepted, refused, failed, and a bad destination",
          "[sip]") {
  TempDir dir;
  boost::asio::io_context io;
  const int trunk_port = 5090;
  auto config = sip_config(trunk_port);
  const std::string to_number = "sip:\\+15550009999@127\\.0\\.0\\.1:5090[;>]";

  // Places a call to SIPp, waits for the answer, asks for the transfer; the outcome.
  struct Transfer {
    std::shared_ptr<Recorder> events;
    std::optional<sip::TransferResult> result;
  };
  auto transfer = [&](sip::SipEngine& engine, const std::string& destination) {
    Transfer t{std::make_shared<Recorder>(), std::nullopt};
    const auto id = engine.call({"+15550001111", "+15550009999", &config.trunks[0], ""}, t.events);
    REQUIRE(run_until(io, [&] { return t.events->answered_ || t.events->end; }, 8000));
    REQUIRE(t.events->answered_);
    auto sent = engine.transfer(id, destination, [&t](sip::TransferResult r) { t.result = r; });
    INFO((sent ? "" : sent.error().message));
    REQUIRE(sent.ok());
    REQUIRE(run_until(io, [&] { return t.result.has_value(); }, 8000));
    return std::make_pair(id, t);
  };

  SECTION("accepted: the trunk's NOTIFY says 200, and the call is hung up as transferred") {
    Sipp far(dir, sipp_transfer_scenario(to_number, "202 Accepted", "200 OK"), trunk_port);
    auto engine = start_engine(io, config);
    auto [id, t_] = transfer(*engine, "+15550009999");
    auto& t = t_;
    CHECK(t.result->transferred);
    CHECK(t.result->sip_code == 200);
    REQUIRE(run_until(io, [&] { return t.events->end.has_value(); }, 5000));
    CHECK(t.events->end->status == "completed");
    CHECK(t.events->end->reason == "transferred");
    INFO(far.log());
    CHECK(far.wait(5000) == 0);  // it saw the REFER's target, its NOTIFYs answered, our BYE
  }
  SECTION("a sip: URI goes into Refer-To as it is") {
    Sipp far(dir, sipp_transfer_scenario("sip:desk@example\\.test>", "202 Accepted", "200 OK"),
             trunk_port);
    auto engine = start_engine(io, config);
    auto [id, t_] = transfer(*engine, "sip:desk@example.test");
    auto& t = t_;
    CHECK(t.result->transferred);
    INFO(far.log());
    CHECK(far.wait(5000) == 0);
  }
  SECTION("refused (the REFER gets 603) or failed (NOTIFY 486): the call goes on") {
    struct Case {
      const char* refer_reply;
      const char* outcome;
      const char* code;
      int sip_code;
    };
    for (const Case& c : {Case{"603 Decline", "", "transfer_refused", 603},
                          Case{"202 Accepted", "486 Busy Here", "transfer_failed", 486}}) {
      INFO(c.code);
      Sipp far(dir, sipp_transfer_scenario(to_number, c.refer_reply, c.outcome), trunk_port);
      auto engine = start_engine(io, config);
      auto [id, t_] = transfer(*engine, "+15550009999");
      auto& t = t_;
      CHECK_FALSE(t.result->transferred);
      CHECK(t.result->code == c.code);
      CHECK(t.result->sip_code == c.sip_code);
      CHECK_THAT(t.result->message, Catch::Contains(std::to_string(c.sip_code) + " "));
      run_for(io, 300);
      CHECK_FALSE(t.events->end.has_value());  // still up
      engine->hangup(id);
      REQUIRE(run_until(io, [&] { return t.events->end.has_value(); }, 5000));
      CHECK(t.events->end->reason == "local_hangup");
      INFO(far.log());
      CHECK(far.wait(5000) == 0);
      // Once the call is over, a transfer is refused as not live.
      std::optional<sip::TransferResult> late;
      REQUIRE(engine->transfer(id, "+15550009999", [&](sip::TransferResult r) { late = r; }).ok());
      REQUIRE(run_until(io, [&] { return late.has_value(); }, 2000));
      CHECK(late->code == "transfer_not_live");
    }
  }
  SECTION("a bad destination is refused at once, naming what is wrong") {
    auto engine = start_engine(io, config);
    const std::pair<std::string, std::string> bad[] = {
        {"", "phone number of 1 to 32 digits"},
        {"12ab", "phone number (an optional +"},
        {"+" + std::string(33, '1'), "1 to 32 digits"},
        {"sip:", "something after"},
        {"sip:a@b>\r\nX: y", "without spaces"},
        {"sip:" + std::string(300, 'a'), "at most 256 bytes"},
    };
    for (const auto& [destination, why] : bad) {
      auto sent = engine->transfer(1, destination, [](sip::TransferResult) {});
      REQUIRE_FALSE(sent.ok());
      CHECK(sent.error().code == "transfer_bad_destination");
      CHECK_THAT(sent.error().message, Catch::Contains(why));
    }
  }
}

// ---- inbound, by hand: a UDP peer in the test writes the SIP requests and RTP packets itself,
// so it can also write what no well-behaved far end sends (garbage, a codec we lack, RTP from
// the wrong port, a flood of INVITEs).

namespace {

struct Udp {
  int fd = -1;
  std::uint16_t port = 0;
  explicit Udp(const char* ip = "127.0.0.1") {
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a.sin_addr);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Udp() { close(fd); }
  void send_to(std::uint16_t to, const std::string& bytes) const {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(to);
    sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  // One datagram, or "" after timeout_ms.
  std::string receive(int timeout_ms) const {
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[65536];
    const auto n = recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
};

// The header line `name: ...` of a SIP message (without CRLF), or "".
std::string header_line(const std::string& msg, const std::string& name) {
  const std::size_t at = msg.find("\r\n" + name + ":");
  if (at == std::string::npos) return {};
  const std::size_t end = msg.find("\r\n", at + 2);
  return msg.substr(at + 2, end - at - 2);
}

int status_code(const std::string& msg) {
  return msg.rfind("SIP/2.0 ", 0) == 0 ? std::atoi(msg.c_str() + 8) : 0;
}

// The first final response (>= 200) to `method` of call `call_id` within timeout_ms, while the
// io_context runs (a refused INVITE's response is retransmitted meanwhile: others are skipped).
std::string final_response(boost::asio::io_context& io, const Udp& sock, const std::string& call_id,
                           const std::string& method, int timeout_ms) {
  std::string got;
  run_until(io, [&] {
    const std::string m = sock.receive(10);
    if (status_code(m) >= 200 && header_line(m, "Call-ID") == "Call-ID: " + call_id &&
        header_line(m, "CSeq").find(" " + method) != std::string::npos)
      got = m;
    return !got.empty();
  }, timeout_ms);
  return got;
}

std::string sdp_offer(std::uint16_t rtp_port, const std::string& formats,
                      const std::string& rtpmaps) {
  return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         "m=audio " + std::to_string(rtp_port) + " RTP/AVP " + formats + "\r\n" + rtpmaps +
         "a=ptime:20\r\n";
}

std::string request(const std::string& method, const std::string& to_user,
                    std::uint16_t engine_port, const Udp& from, const std::string& call_id,
                    const std::string& branch, int cseq, const std::string& to_line = {},
                    const std::string& sdp = {}) {
  const std::string uri = "sip:" + to_user + "@127.0.0.1:" + std::to_string(engine_port);
  std::string m = method + " " + uri + " SIP/2.0\r\n";
  m += "Via: SIP/2.0/UDP 127.0.0.1:" + std::to_string(from.port) + ";branch=z9hG4bK" + branch +
       ";rport\r\n";
  m += "Max-Forwards: 70\r\n";
  m += "From: <sip:+15550002222@127.0.0.1:" + std::to_string(from.port) + ">;tag=t" + call_id +
       "\r\n";
  m += (to_line.empty() ? "To: <" + uri + ">" : to_line) + "\r\n";
  m += "Call-ID: " + call_id + "\r\n";
  m += "CSeq: " + std::to_string(cseq) + " " + method + "\r\n";
  m += "Contact: <sip:+15550002222@127.0.0.1:" + std::to_string(from.port) + ">\r\n";
  if (!sdp.empty()) m += "Content-Type: application/sdp\r\n";
  m += "Content-Length: " + std::to_string(sdp.size()) + "\r\n\r\n" + sdp;
  return m;
}

// An RTP packet: `pt`, `seq`, `ts`, SSRC 0x11223344, the payload as given.
std::string rtp_packet(int pt, std::uint16_t seq, std::uint32_t ts, bool marker,
                       const std::string& payload) {
  std::string p;
  p.push_back(static_cast<char>(0x80));
  p.push_back(static_cast<char>((marker ? 0x80 : 0) | pt));
  p.push_back(static_cast<char>(seq >> 8));
  p.push_back(static_cast<char>(seq & 0xff));
  for (int shift = 24; shift >= 0; shift -= 8) p.push_back(static_cast<char>((ts >> shift) & 0xff));
  for (const char b : {'\x11', '\x22', '\x33', '\x44'}) p.push_back(b);
  return p + payload;
}

}  // namespace

TEST_CASE("sip: an inbound call (PCMA), its audio and DTMF, wrong-source RTP and garbage dropped",
          "[sip]") {
  boost::asio::io_context io;
  auto config = sip_config(5090);
  auto events = std::make_shared<Recorder>();
  std::vector<sip::InboundCall> calls;
  auto engine = start_engine(io, config, [&](const sip::InboundCall& call) {
    calls.push_back(call);
    return events;
  });
  const std::uint16_t port = engine->port();
  Udp sip_peer, rtp_peer, stranger;

  // Garbage first: libre's parser drops it, nothing answers, nothing else changes.
  sip_peer.send_to(port, "INVITE this is not SIP\r\n\r\n");
  sip_peer.send_to(port, std::string("\x00\x01\x02\xff garbage", 13));
  sip_peer.send_to(port, "SIP/2.0 200 OK\r\nContent-Length: 99999\r\n\r\n");
  run_for(io, 200);
  CHECK(sip_peer.receive(50).empty());

  // An offer with no codec of ours: 488, and no call.
  sip_peer.send_to(port, request("INVITE", "+15550001111", port, sip_peer, "g729", "g1", 1, {},
                                 sdp_offer(rtp_peer.port, "18", "a=rtpmap:18 G729/8000\r\n")));
  CHECK(status_code(final_response(io, sip_peer, "g729", "INVITE", 3000)) == 488);
  // A number no agent answers: 404.
  sip_peer.send_to(port, request("INVITE", "+15550007777", port, sip_peer, "nobody", "n1", 1, {},
                                 sdp_offer(rtp_peer.port, "0", "")));
  CHECK(status_code(final_response(io, sip_peer, "nobody", "INVITE", 3000)) == 404);
  // An offer that is not SDP: 400.
  sip_peer.send_to(port, request("INVITE", "+15550001111", port, sip_peer, "notsdp", "b1", 1, {},
                                 "this is not a session description\r\n"));
  CHECK(status_code(final_response(io, sip_peer, "notsdp", "INVITE", 3000)) == 400);
  CHECK(calls.empty());
  CHECK(engine->counters().invites_refused.load() == 3);

  // The real call: PCMA and telephone-event.
  const std::string offer = sdp_offer(rtp_peer.port, "8 101",
                                      "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
                                      "a=fmtp:101 0-15\r\n");
  sip_peer.send_to(port, request("INVITE", "+15550001111", port, sip_peer, "call1", "c1", 1, {},
                                 offer));
  const std::string ok = final_response(io, sip_peer, "call1", "INVITE", 3000);
  INFO(ok);
  REQUIRE(status_code(ok) == 200);
  REQUIRE(run_until(io, [&] { return !calls.empty(); }, 1000));  // the handler ran (io thread)
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].from == "+15550002222");
  CHECK(calls[0].to == "+15550001111");
  const std::string to_line = header_line(ok, "To");
  REQUIRE(to_line.find(";tag=") != std::string::npos);
  const std::size_t m = ok.find("m=audio ");
  REQUIRE(m != std::string::npos);
  const auto engine_rtp = static_cast<std::uint16_t>(std::atoi(ok.c_str() + m + 8));
  REQUIRE(engine_rtp != 0);
  sip_peer.send_to(port, request("ACK", "+15550001111", port, sip_peer, "call1", "c2", 1, to_line));
  REQUIRE(run_until(io, [&] { return events->answered_; }, 3000));
  CHECK(events->codec == sip::Codec::pcma);

  // 1 s of a 400 Hz square wave (A-law 0xAA / 0x2A: the largest values of each sign) from the
  // address the offer named, and the same from a stranger's port, interleaved.
  std::string wave;
  for (int i = 0; i < 160; ++i) wave.push_back(static_cast<char>((i / 10) % 2 ? 0x2A : 0xAA));
  for (int i = 0; i < 50; ++i) {
    rtp_peer.send_to(engine_rtp, rtp_packet(8, static_cast<std::uint16_t>(100 + i),
                                            static_cast<std::uint32_t>(1000 + 160 * i), i == 0, wave));
    stranger.send_to(engine_rtp, rtp_packet(8, static_cast<std::uint16_t>(100 + i),
                                            static_cast<std::uint32_t>(1000 + 160 * i), i == 0,
                                            std::string(160, '\x55')));
    run_for(io, 20);
  }
  // DTMF 5 (RFC 4733): start, two updates, and the end sent three times, as phones send it.
  const std::uint32_t dtmf_ts = 1000 + 160 * 50;
  int seq = 150;
  for (int d : {160, 320, 480, 640, 640, 640}) {
    const bool end = d == 640;
    std::string ev = {5, static_cast<char>((end ? 0x80 : 0) | 10), static_cast<char>(d >> 8),
                      static_cast<char>(d & 0xff)};
    rtp_peer.send_to(engine_rtp, rtp_packet(101, static_cast<std::uint16_t>(seq++), dtmf_ts,
                                            d == 160, ev));
    run_for(io, 20);
  }
  run_for(io, 300);
  const Samples heard = from_bytes(events->audio_bytes);
  double energy = 0;
  for (auto v : heard) energy += double(v) * v;
  const double rms = heard.empty() ? 0 : std::sqrt(energy / double(heard.size()));
  INFO("heard " << heard.size() << " samples at 16 kHz, rms " << rms);
  CHECK(heard.size() >= 40 * 320);  // most of the 50 packets, at 16 kHz
  CHECK(rms > 5000);                // the square wave, not the stranger's silence
  CHECK(events->digits == "5");     // once, though its end came three times
  const auto& c = engine->counters();
  CHECK(c.rtp_wrong_source.load() >= 50);
  CHECK(c.dtmf.load() == 1);

  // The caller hangs up.
  sip_peer.send_to(port, request("BYE", "+15550001111", port, sip_peer, "call1", "c3", 2, to_line));
  REQUIRE(run_until(io, [&] { return events->end.has_value(); }, 3000));
  CHECK(events->end->status == "completed");
  CHECK(events->end->reason == "remote_hangup");
  CHECK(status_code(final_response(io, sip_peer, "call1", "BYE", 1000)) == 200);
}

TEST_CASE("sip: a flood of INVITEs from one address gets 503 beyond invites_per_s", "[sip]") {
  boost::asio::io_context io;
  auto config = sip_config(5090);
  config.invites_per_s = 2;  // a burst of 4, then 2 a second
  auto engine = start_engine(io, config, [](const sip::InboundCall&) { return nullptr; });
  const std::uint16_t port = engine->port();
  Udp flood;
  for (int i = 0; i < 12; ++i)
    flood.send_to(port, request("INVITE", "+15550007777", port, flood, "flood" + std::to_string(i),
                                "f" + std::to_string(i), 1, {}, sdp_offer(4000, "0", "")));
  std::map<int, int> codes;
  std::set<std::string> answered;  // each call once (a 404 is retransmitted until an ACK)
  run_until(io, [&] {
    const std::string m = flood.receive(10);
    const int code = status_code(m);
    if (code >= 200 && answered.insert(header_line(m, "Call-ID")).second) {
      ++codes[code];
      if (code == 503) CHECK(header_line(m, "Retry-After") == "Retry-After: 1");
    }
    return answered.size() >= 12;
  }, 3000);
  INFO("404: " << codes[404] << ", 503: " << codes[503]);
  CHECK(codes[404] >= 4);   // the burst: an unknown number, answered as such
  CHECK(codes[503] >= 7);   // the rest: refused before anything else is looked at
  CHECK(engine->counters().invites_rate_limited.load() == static_cast<std::uint64_t>(codes[503]));
  // Another address is not limited by this one's flood (127.0.0.2: loopback is all of 127/8).
  Udp other("127.0.0.2");
  other.send_to(port, request("INVITE", "+15550007777", port, other, "other", "o1", 1, {},
                              sdp_offer(4000, "0", "")));
  CHECK(status_code(final_response(io, other, "other", "INVITE", 3000)) == 404);
}

// A tool, not a test: pocketsphinx's reading of the WAV files in $PARLEY_RECOGNISE (":"-separated).
TEST_CASE("recognise wav files", "[.recognise]") {
  const char* files = std::getenv("PARLEY_RECOGNISE");
  if (!files) return;
  std::string list = files;
  std::size_t at = 0;
  while (at <= list.size()) {
    const std::size_t end = std::min(list.find(':', at), list.size());
    const std::string path = list.substr(at, end - at);
    int rate = 0;
    Samples s = read_wav(path, &rate);
    if (rate != 16000) s = resample(s, rate, 16000);
    WARN(path << ": " << recognise_16k(s));
    at = end + 1;
  }
}
