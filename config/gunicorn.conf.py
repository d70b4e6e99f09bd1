"""gunicorn settings for every place the product starts its web server: `gunicorn -c
config/gunicorn.conf.py config.wsgi …` (the demo, the benchmarks, the end-to-end tests and the
README's production command).

The access log names neither the Basic-auth user (`%(u)s`: the sandbox's USAePay, KOMOJU and Klearly
wire APIs take an API key or a partner id there) nor the query string (`%(r)s`, `%(q)s`: Integra's
access token and bioCode travel in it); it writes the path alone (`%(U)s`). Control characters in
every line are escaped (config/logsafety.py), so a `%0a` in a path cannot start a forged line.
"""

access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
logger_class = "config.logsafety.GunicornLogger"

# Kept-alive connections stay open this long between requests: longer than a client keeps an idle one
# (providers/http.py KEEPALIVE_EXPIRY_S, 5 s), so a tracker polling the sandbox every 2 s reuses its
# connection and never sends on one the server is closing.
keepalive = 10
