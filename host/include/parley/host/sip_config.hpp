// Phone calls' settings (DESIGN §11): server.sip in the config file. A trunk is the SIP peer
// that carries calls to and from its numbers; an outbound call from one of its numbers goes
// to `address`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace parley::host {

struct SipTrunkConfig {
  std::string id;                 // 1..64 of [A-Za-z0-9_-]
  std::string address;            // HOST:PORT of the trunk's SIP server
  std::string transport = "udp";  // udp or tcp
  std::string username;           // digest auth, with the password from password_env
  std::string password_env;       // the environment variable holding the password
  std::vector<std::string> numbers;  // E.164 numbers this trunk carries (+15550001111)
};

struct SipConfig {
  std::string listen;          // ADDR:PORT for SIP (UDP and TCP); empty = no phone calls
  std::string public_address;  // the address written into SDP and Contact; empty = listen's
  std::uint32_t rtp_port_min = 10000;  // rtp_ports [min, max]
  std::uint32_t rtp_port_max = 20000;
  std::uint32_t ring_timeout_s = 30;   // an unanswered outbound call is no-answer after it
  std::uint32_t invites_per_s = 20;    // inbound INVITEs per source address (burst 2x)
  std::uint32_t max_calls = 1000;      // phone calls at once; beyond, 503 / refused
  std::vector<SipTrunkConfig> trunks;

  const SipTrunkConfig* trunk_for(std::string_view number) const {
    for (const auto& trunk : trunks)
      for (const auto& n : trunk.numbers)
        if (n == number) return &trunk;
    return nullptr;
  }
};

}  // namespace parley::host
