/*
 * retention.c - keeps P signals within --retention-signals entries and
 * --retention-age seconds (see sig_impl.h).  Runs on the I/O thread.
 *
 * One Lua script per round removes at most BATCH signals, oldest first:
 * those older than the age, then those over the count.  For each it
 * deletes P signal:<sid>, takes it out of P signals and P
 * signals:rule:<rule_id>, and out of P trace:<trace_id>:signals, deleting
 * the stored trace with its last signal.  Stored traces also expire on
 * their own (EX age, set when written), so a trace never outlives the age
 * even if its signals are trimmed late.  Bounded work per round keeps
 * Redis responsive for the REST API; a backlog goes away over a few
 * rounds.
 */

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "sig_impl.h"

#define BATCH   500

/*
 * KEYS: none (the prefix is ARGV[1], so the script can name per-signal
 * keys it discovers).  ARGV: prefix, max count, min score (ms), batch.
 */
static const char  script[] =
    "local p = ARGV[1]\n"
    "local max = tonumber(ARGV[2])\n"
    "local batch = tonumber(ARGV[4])\n"
    "local z = p .. 'signals'\n"
    "local ids = redis.call('ZRANGEBYSCORE', z, '-inf', '(' .. ARGV[3],"
    " 'LIMIT', 0, batch)\n"
    "if #ids < batch then\n"
    "  local over = redis.call('ZCARD', z) - #ids - max\n"
    "  if over > 0 then\n"
    "    if over > batch - #ids then over = batch - #ids end\n"
    "    local more = redis.call('ZRANGE', z, #ids, #ids + over - 1)\n"
    "    for _, id in ipairs(more) do ids[#ids + 1] = id end\n"
    "  end\n"
    "end\n"
    "for _, id in ipairs(ids) do\n"
    "  local v = redis.call('GET', p .. 'signal:' .. id)\n"
    "  if v then\n"
    "    local ok, s = pcall(cjson.decode, v)\n"
    "    if ok and type(s) == 'table' then\n"
    "      if type(s.rule_id) == 'string' then\n"
    "        redis.call('ZREM', p .. 'signals:rule:' .. s.rule_id, id)\n"
    "      end\n"
    "      if type(s.trace_id) == 'string' then\n"
    "        local ts = p .. 'trace:' .. s.trace_id .. ':signals'\n"
    "        redis.call('SREM', ts, id)\n"
    "        if redis.call('SCARD', ts) == 0 then\n"
    "          redis.call('DEL', p .. 'trace:' .. s.trace_id, ts)\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "    redis.call('DEL', p .. 'signal:' .. id)\n"
    "  end\n"
    "  redis.call('ZREM', z, id)\n"
    "end\n"
    "return #ids\n";

int
bt_retention_load(bt_sig_t *s)
{
    redisReply  *r;

    r = redisCommand(s->rc, "SCRIPT LOAD %s", script);
    if (r == NULL || r->type != REDIS_REPLY_STRING || r->len != 40) {
        if (r) {
            engine_log(ENGINE_LOG_ERROR, "redis: SCRIPT LOAD (retention): %s",
                       r->type == REDIS_REPLY_ERROR ? r->str
                                                    : "unexpected reply");
            freeReplyObject(r);
        }
        return -1;
    }
    memcpy(s->sha_retention, r->str, 40);
    s->sha_retention[40] = '\0';
    freeReplyObject(r);
    return 0;
}

long
bt_retention_round(bt_sig_t *s)
{
    redisReply  *r;
    long         n;
    char         max[24], min[24], batch[16];
    uint64_t     now, age_ms;

    now = bt_wall_ms();
    age_ms = s->conf.retention_age_s * 1000;
    snprintf(max, sizeof(max), "%llu",
             (unsigned long long) s->conf.retention_signals);
    snprintf(min, sizeof(min), "%llu",
             (unsigned long long) (now > age_ms ? now - age_ms : 0));
    snprintf(batch, sizeof(batch), "%d", BATCH);

    r = redisCommand(s->rc, "EVALSHA %s 0 %s %s %s %s", s->sha_retention,
                     s->prefix, max, min, batch);
    if (r == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR
        && strncmp(r->str, "NOSCRIPT", 8) == 0)
    {
        /* Redis restarted or SCRIPT FLUSH: load again next round */
        freeReplyObject(r);
        return bt_retention_load(s) == 0 ? 0 : -1;
    }
    if (r->type != REDIS_REPLY_INTEGER) {
        engine_log(ENGINE_LOG_ERROR, "redis: retention script: %s",
                   r->type == REDIS_REPLY_ERROR ? r->str
                                                : "unexpected reply");
        freeReplyObject(r);
        s->redis_errors++;
        return 0;
    }
    n = (long) r->integer;
    freeReplyObject(r);

    if (n > 0) {
        engine_log(ENGINE_LOG_DEBUG, "retention: removed %ld signals", n);
    }
    return n;
}
