# `parley token --secret S --user U --expires EPOCH_S` (sourced by test-cli.sh).
# The expected token was computed independently (Python hmac/base64), as in
# tests/vectors/host-ids.json.
expect "token: the documented format" 0 \
  '^eyJleHAiOjE4MDAwMDAwNjAsInN1YiI6InUxIn0\.KBimdk5V5XBZr9D_yHfx8K_zAvpHCmIh92wVo59Ypv4$' \
  -- token --secret k --user u1 --expires 1800000060
expect "token: flags in any order" 0 '^eyJleHAiOjE4MDAwMDAwNjAsInN1YiI6InUxIn0\.' \
  -- token --expires 1800000060 --user u1 --secret k
expect "token: unicode user" 0 '^eyJleHAiOjE4MDAwMDM2MDAsInN1YiI6Ilpvw6sifQ\.R4jR0hw8OLXHS4znl1a1mGzJ1QR5i5U9RY9c3Z02AT4$' \
  -- token --secret demo-user-token-secret --user 'Zoë' --expires 1800003600
expect "token: missing --user" 64 'missing --user' -- token --secret k --expires 1800000060
expect "token: flag without value" 64 '--expires needs a value' -- token --secret k --user u --expires
expect "token: unknown flag" 64 'unknown option "--ttl"' -- token --secret k --user u --ttl 5
expect "token: flag twice" 64 '--user is given twice' -- token --secret k --user u --user v --expires 1
expect "token: empty secret" 2 '^parley: --secret: must not be empty' -- token --secret '' --user u --expires 1800000060
expect "token: empty user" 2 '^parley: --user: must not be empty' -- token --secret k --user '' --expires 1800000060
expect "token: expiry not a number" 2 '^parley: --expires: "tomorrow" is not a time in epoch seconds' \
  -- token --secret k --user u --expires tomorrow
expect "token: negative expiry" 2 '^parley: --expires: "-5"' -- token --secret k --user u --expires -5
expect "token: zero expiry" 2 '^parley: --expires: "0"' -- token --secret k --user u --expires 0
expect "token: expiry overflow" 2 '^parley: --expires: "99999999999999999999"' \
  -- token --secret k --user u --expires 99999999999999999999
