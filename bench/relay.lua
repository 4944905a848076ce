-- wrk script: a non-streamed POST /v1/chat/completions of the bench model (see bench/relay.sh).
-- TOKEN (environment) is the bearer token; empty for the fake upstream itself.
wrk.method = "POST"
wrk.body = '{"model":"bench","messages":[{"role":"user","content":"Say hello"}],"stream":false}'
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("TOKEN")
if token ~= nil and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
end
