-- wrk connects to $KIT_BENCH_CONNECT instead of the address the URL's name resolves to; the name
-- stays what wrk sends (SNI and Host). bench/measure.py runs wrk with it for the proxied probes:
-- nginx limits request rates per client address and the bench's client must come from an address
-- the site exempts (bench/nginx_variants.py, exempt_networks), not from 127.0.0.1. Only the
-- resolution changes: no request() or response() function, so wrk keeps its static fast path.
local address = os.getenv("KIT_BENCH_CONNECT")

if address ~= nil and address ~= "" then
   function wrk.resolve(host, service)
      wrk.addrs = wrk.lookup(address, service)
   end
end
