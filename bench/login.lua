-- wrk script: POST /api/v1/auth/login with the bench admin's credentials (see bench/me.sh).
wrk.method = "POST"
wrk.body = '{"username":"benchadmin","password":"bench-password-123"}'
wrk.headers["Content-Type"] = "application/json"
