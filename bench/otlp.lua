-- otlp.lua - wrk script that replays the bodies bench/gen wrote.
--
--   wrk -t T -c C -d 5s -s bench/otlp.lua http://127.0.0.1:PORT/v1/traces \
--       -- DIR threads=T conns=C [unique] [rate=R] [out=FILE]
--
-- DIR is one workload's directory (manifest + bodies.bin).  Each thread
-- takes its own contiguous share of the bodies (whole groups, so the spans
-- of a W3-split trace are sent by one thread in order, root last) and cycles
-- through it, one body per request, with the workload's Content-Type and
-- Content-Encoding.  Requests are formatted once in init, so a request costs
-- wrk no more than a static one.
--
--   unique   rewrite the first 4 bytes (8 hex digits) of every trace id with
--            the pass number, so that trace ids never repeat however long
--            the run; costs wrk a copy per request, used to fill the ring
--            for the engine measurement, not to measure nginx
--   rate=R   open-ish loop: every connection waits an exponentially
--            distributed time (mean C/R) between requests, for latency at
--            a given load (wrk has no rate limit of its own)
--   out=FILE append the result line to FILE as well
--
-- Every response that is not 200 is counted by status: a run with errors is
-- not a result, run.sh refuses it.  done() prints one line:
--   RESULT requests=N non200=M status_429=K ... p50_us= p99_us= duration_us=

local threads = {}
local dir, nthreads, nconns, unique, rate, outfile

local function parse_args(args)
    dir = args[1]
    nthreads = 1
    nconns = 1
    for i = 2, #args do
        local k, v = args[i]:match("^(%w+)=(.*)$")
        if k == "threads" then nthreads = tonumber(v)
        elseif k == "conns" then nconns = tonumber(v)
        elseif k == "rate" then rate = tonumber(v)
        elseif k == "out" then outfile = v
        elseif args[i] == "unique" then unique = true
        end
    end
    if not dir then
        error("otlp.lua: usage: -- DIR threads=N [unique] [rate=R]")
    end
end

local function read_file(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("*a")
    f:close()
    return s
end

local tid = 1

function setup(thread)
    thread:set("tid", tid)
    tid = tid + 1
    table.insert(threads, thread)
end

-- per thread state
local reqs = {}          -- formatted requests (plain mode)
local pieces = {}        -- per body: the body cut at its trace ids (unique)
local hdrs
local nreq, cur, pass = 0, 0, 0
local is_json
non200 = 0
responses = 0

function init(args)
    parse_args(args)

    local meta = {}
    local lines = {}
    for line in io.lines(dir .. "/manifest") do
        local k, v = line:match("^(%S+) (.*)$")
        if k == "body" then
            lines[#lines + 1] = v
        else
            meta[k] = v
        end
    end
    local data = read_file(dir .. "/bodies.bin")

    hdrs = { ["Content-Type"] = meta.content_type }
    if meta.content_encoding ~= "identity" then
        hdrs["Content-Encoding"] = meta.content_encoding
    end
    is_json = meta.content_type == "application/json"

    -- this thread's share: whole groups, contiguous
    local group = tonumber(meta.group)
    local ngroups = #lines / group
    local me = tid - 1
    local g0 = math.floor(ngroups * me / nthreads)
    local g1 = math.floor(ngroups * (me + 1) / nthreads)

    local off = 0
    for i = 1, #lines do
        local len, spans, ids = lines[i]:match("^(%d+) (%d+) (%S+)$")
        len = tonumber(len)
        local g = math.floor((i - 1) / group)
        if g >= g0 and g < g1 then
            local body = data:sub(off + 1, off + len)
            if unique then
                if ids == "-" then
                    error("otlp.lua: unique needs trace id offsets; "
                          .. dir .. " has none (gzip?)")
                end
                -- cut the body around the 4 bytes (8 hex digits) to rewrite
                local cut = is_json and 8 or 4
                local p, last = {}, 1
                for o in ids:gmatch("%d+") do
                    o = tonumber(o)
                    p[#p + 1] = body:sub(last, o)
                    last = o + cut + 1
                end
                p[#p + 1] = body:sub(last)
                pieces[#pieces + 1] = p
            else
                reqs[#reqs + 1] = wrk.format("POST", nil, hdrs, body)
            end
            nreq = nreq + 1
        end
        off = off + len
    end
    if nreq == 0 then
        error("otlp.lua: no bodies for thread " .. tid .. " in " .. dir)
    end

    if rate then
        -- Defined only here: wrk looks for delay() after init, and a delay()
        -- that returns 0 still costs a timer per request.  The mean gap per
        -- connection makes all connections together send rate requests/s
        -- (the response time adds to it; small at half load).
        local mean_delay = 1000 * nconns / rate
        math.randomseed(tid * 7919 + os.time())
        delay = function()
            return -mean_delay * math.log(1 - math.random())
        end
    end
end

local function prefix()
    if is_json then
        return string.format("%08x", pass % 4294967296)
    end
    return string.char(math.floor(pass / 16777216) % 256,
                       math.floor(pass / 65536) % 256,
                       math.floor(pass / 256) % 256, pass % 256)
end

function request()
    cur = cur + 1
    if cur > nreq then
        cur = 1
        pass = pass + 1
    end
    if not unique then
        return reqs[cur]
    end
    local p = pieces[cur]
    return wrk.format("POST", nil, hdrs, table.concat(p, prefix()))
end

function response(status, headers, body)
    responses = responses + 1
    if status ~= 200 then
        non200 = non200 + 1
        -- keep a sample for the report
        if non200 <= 3 then
            io.stderr:write(string.format("otlp.lua: HTTP %d: %s\n", status,
                                          (body or ""):sub(1, 200)))
        end
        local k = "status_" .. status
        _G[k] = (_G[k] or 0) + 1
    end
end

function done(summary, latency, requests)
    local non, bystatus = 0, {}
    for _, t in ipairs(threads) do
        non = non + (t:get("non200") or 0)
        for code = 100, 599 do
            local n = t:get("status_" .. code)
            if n then
                bystatus[code] = (bystatus[code] or 0) + n
            end
        end
    end
    local e = summary.errors
    local line = string.format(
        "RESULT requests=%d non200=%d duration_us=%d bytes=%d "
        .. "err_connect=%d err_read=%d err_write=%d err_timeout=%d "
        .. "p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d",
        summary.requests, non, summary.duration, summary.bytes,
        e.connect, e.read, e.write, e.timeout,
        latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency:percentile(99.9), latency.max)
    for code, n in pairs(bystatus) do
        line = line .. string.format(" status_%d=%d", code, n)
    end
    print(line)
    if outfile then
        local f = io.open(outfile, "a")
        if f then
            f:write(line .. "\n")
            f:close()
        end
    end
end
