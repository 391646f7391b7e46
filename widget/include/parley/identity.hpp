// One person per conversation (DESIGN §5 step 6): who a widget's page says its visitor is.
//
// The identity of a page is the values of its identity metadata keys and the user of its
// loginToken. A stored session is resumed only by a page with the same identity it was opened
// with; a page whose identity differs (Carol on the computer Bob used) starts a new session and
// sees none of the previous person's lines. Metadata that is not identity (the page path, the
// plan, the cart) never decides anything: it goes with the session.
//
// The keys: `identityKeys` (a reserved embed URL parameter, `data-identity-keys` on the
// loader, `identityKeys` in resume()'s options) lists them, comma-separated; by default they
// are default_identity_keys. An empty list means no metadata key is identity (only the token's
// user, if any). The values are compared exactly (case and spaces count): "Bob" is not "bob".
// A page without any identity value is anonymous, and anonymous is an identity too: an
// anonymous page does not resume Bob's session, nor Bob's page an anonymous one.
//
// What is stored is not the values but a fingerprint of them (64-bit FNV-1a, 16 hex digits):
// enough to tell two visitors of one browser apart, and no name or e-mail address in
// localStorage. It is not a secret and not a check against forgery: the site that sets the
// metadata decides who the visitor is.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "parley/json.hpp"
#include "parley/result.hpp"

namespace parley {

inline constexpr const char* default_identity_keys[] = {"userId", "user_id", "userName",
                                                        "userEmail", "email", "phone"};
inline constexpr std::size_t max_identity_keys = 16;

// "userId, email" -> {"userId", "email"}: each a metadata key (DESIGN §6 key rule), at most
// max_identity_keys, spaces around them ignored, none repeated; "" is the empty list. Error code
// identity_keys_invalid naming the key and the rule.
Result<std::vector<std::string>> parse_identity_keys(std::string_view text);

// The user named by a loginToken (its payload's "sub"), read without checking the signature
// (the host checks it); "" when the token is not one.
std::string login_token_user(std::string_view token);

// The fingerprint of a page's identity: "" when it has no identity value at all (anonymous).
// metadata: the page's metadata (an object; values as the embed URL gives them, string or
// array of strings, or any JSON); keys: the identity keys; token_user: login_token_user(...).
std::string identity_fingerprint(const json& metadata, const std::vector<std::string>& keys,
                                 std::string_view token_user);

}  // namespace parley
