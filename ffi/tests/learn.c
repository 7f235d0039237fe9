/* The learner through its C ABI: three weeks of samples every five minutes, then the classes
 * of a normal value and of a spike. Memory is ours: the library is asked for sizes and
 * alignments and allocates nothing. Run by ci/ffi.sh under valgrind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "homeostat.h"

#define WEEK (7 * 86400LL)
#define T0 1704067200LL /* 2024-01-01 00:00 UTC, a Monday */

static int failures;

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "learn.c:%d: check failed: %s\n", __LINE__, #cond);        \
      failures++;                                                                \
    }                                                                            \
  } while (0)

static void *alloc_aligned(size_t size, size_t align) {
  if (align < sizeof(void *)) align = sizeof(void *);
  void *p = NULL;
  return posix_memalign(&p, align, size) == 0 ? p : NULL;
}

/* users: 3 by day, 1 by night; ssh_failed: a steady 10 with a little jitter. */
static float users_at(long long t) {
  long long hour = (t % 86400) / 3600;
  return (hour >= 8 && hour < 18) ? 3.0f : 1.0f;
}

static float ssh_at(long long t) { return 10.0f + (float)((t / 300) % 3); }

static int has_class(const char *classes, const char *name) {
  size_t n = strlen(name);
  for (const char *p = classes; *p;) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    if (len == n && memcmp(p, name, n) == 0) return 1;
    p += len + (nl ? 1 : 0);
  }
  return 0;
}

int main(void) {
  HsLearner *learner = NULL;
  HsTable *table = NULL;
  uint32_t users = 0, ssh = 0;

  /* Errors, not crashes, for bad arguments. */
  CHECK(hs_learner_init(NULL, 0, 0.6f, &learner) == HS_ERR_NULL);
  char small[16];
  CHECK(hs_learner_init(small, sizeof small, 0.6f, &learner) == HS_ERR_SIZE);
  CHECK(hs_table_size() == 2064384);

  void *lmem = alloc_aligned(hs_learner_size(), hs_learner_align());
  void *tmem = alloc_aligned(hs_table_size(), hs_table_align());
  CHECK(lmem != NULL && tmem != NULL);
  if (!lmem || !tmem) return 1;
  CHECK(hs_learner_init((char *)lmem + 1, hs_learner_size(), 0.6f, &learner) == HS_ERR_ALIGN);
  CHECK(hs_learner_init(lmem, hs_learner_size(), 0.6f, &learner) == HS_OK);
  CHECK(hs_table_init(tmem, hs_table_size(), &table) == HS_OK);
  CHECK(learner == lmem && table == tmem);

  CHECK(hs_observable(learner, "users", 0, &users) == HS_OK);
  CHECK(hs_observable(learner, "ssh_failed", 0, &ssh) == HS_ERR_NAME);
  CHECK(hs_observable(learner, "ssh_failed", 1, &ssh) == HS_OK);
  CHECK(ssh != users && ssh < HS_OBSERVABLES);
  CHECK(hs_observable(learner, "no spaces allowed", 1, &ssh) == HS_ERR_NAME);

  /* Three weeks, a sample every five minutes. */
  long long t = T0;
  for (; t < T0 + 3 * WEEK; t += 300) {
    HsValue v[2] = {{users, users_at(t)}, {ssh, ssh_at(t)}};
    if (hs_sample(learner, table, t, v, 2) != HS_OK) {
      CHECK(!"hs_sample");
      break;
    }
  }
  HsValue bad = {HS_OBSERVABLES, 1.0f};
  CHECK(hs_sample(learner, table, t, &bad, 1) == HS_ERR_ID);
  CHECK(hs_sample(learner, table, t, NULL, 1) == HS_ERR_NULL);

  /* What was learned: Wednesday 12:00 expects about 3 users, 02:00 about 1. */
  long long noon = T0 + 3 * WEEK + 2 * 86400 + 12 * 3600;
  long long night = T0 + 3 * WEEK + 2 * 86400 + 2 * 3600;
  float expect = 0, stddev = 0;
  CHECK(hs_expect(table, noon, users, &expect, &stddev) == HS_OK);
  printf("users at Wed 12:00: expect %.3f stddev %.3f\n", expect, stddev);
  CHECK(expect > 2.5f && expect < 3.5f);
  CHECK(hs_expect(table, night, users, &expect, &stddev) == HS_OK);
  printf("users at Wed 02:00: expect %.3f stddev %.3f\n", expect, stddev);
  CHECK(expect > 0.5f && expect < 1.5f);

  /* A usual value: no anomaly. */
  char classes[512];
  size_t needed = 0;
  HsValue usual[2] = {{users, 3.0f}, {ssh, ssh_at(noon)}};
  CHECK(hs_sample(learner, table, noon, usual, 2) == HS_OK);
  HsOutcome o;
  CHECK(hs_outcome(learner, users, &o) == HS_OK);
  printf("users = %.1f: expect %.3f stddev %.3f dev %.3f\n", o.value, o.expect, o.stddev, o.dev);
  CHECK(o.value == 3.0f && o.expect > 2.5f && o.expect < 3.5f);
  CHECK(hs_classes(learner, users, classes, sizeof classes, &needed) == HS_OK);
  printf("classes:\n%s", classes);
  CHECK(!has_class(classes, "users_high_anomaly"));

  /* A spike of ssh failures at the next slot: dev2 and anomaly, users untouched. */
  HsValue spike[2] = {{users, 3.0f}, {ssh, 500.0f}};
  CHECK(hs_sample(learner, table, noon + 300, spike, 2) == HS_OK);
  CHECK(hs_classes(learner, ssh, classes, 4, &needed) == HS_ERR_SPACE);
  CHECK(needed > 4);
  CHECK(hs_classes(learner, ssh, classes, sizeof classes, &needed) == HS_OK);
  CHECK(strlen(classes) + 1 == needed);
  printf("ssh_failed = 500 classes:\n%s", classes);
  CHECK(has_class(classes, "ssh_failed_high_dev2"));
  CHECK(has_class(classes, "ssh_failed_high_anomaly"));
  CHECK(hs_outcome(learner, ssh, &o) == HS_OK && o.value == 500.0f);

  /* An observable not in the last sample has no outcome. */
  uint32_t load = 0;
  CHECK(hs_observable(learner, "loadavg", 0, &load) == HS_OK);
  CHECK(hs_outcome(learner, load, &o) == HS_ERR_ID);

  free(lmem);
  free(tmem);
  if (failures) {
    fprintf(stderr, "learn.c: %d checks failed\n", failures);
    return 1;
  }
  printf("learn.c: all checks passed\n");
  return 0;
}
