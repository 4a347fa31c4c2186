-- wrk script: POST /v1/users with a unique userId/email/phone per request (run with -t1).
-- Env: NIB_KEY, PREFIX (userId prefix, unique per run), PHONE_CODE (3 digits, unique per run),
--      PASSWORD (omit for users without a password).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local prefix = os.getenv("PREFIX") or "c"
local pcode = os.getenv("PHONE_CODE") or "556"
local password = os.getenv("PASSWORD")
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Appwrite-Project"] = "default"
wrk.headers["X-Appwrite-Key"] = os.getenv("NIB_KEY")

request = function()
  n = n + 1
  -- A phone as well as an email: see "create user" in bench/RESULTS.md (nib answers 409 to a
  -- second user that has no phone, because its duplicate check compares phone = NULL).
  local body = string.format(
    '{"userId":"%s%07d","email":"new.%s%d@example.com","phone":"+1%s%07d","name":"New User %d"%s}',
    prefix, n, prefix, n, pcode, n, n, password and (',"password":"' .. password .. '"') or "")
  return wrk.format(nil, "/v1/users", nil, body)
end
