// SessionPool against a fake module that only opens and closes sessions.
#include "tokens/internal/session_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace keyhold::pkcs11 {
namespace {

struct FakeModule {
  absl::Mutex mu;
  CK_SESSION_HANDLE next = 1;
  std::set<CK_SESSION_HANDLE> open;
  int closes = 0;
  CK_RV open_result = CKR_OK;
};
FakeModule* g_fake = nullptr;

CK_RV FakeOpen(CK_SLOT_ID, CK_FLAGS flags, void*, CK_NOTIFY,
               CK_SESSION_HANDLE* out) {
  absl::MutexLock lock(&g_fake->mu);
  if (g_fake->open_result != CKR_OK) return g_fake->open_result;
  EXPECT_TRUE(flags & CKF_RW_SESSION);
  *out = g_fake->next++;
  g_fake->open.insert(*out);
  return CKR_OK;
}

CK_RV FakeClose(CK_SESSION_HANDLE h) {
  absl::MutexLock lock(&g_fake->mu);
  ++g_fake->closes;
  return g_fake->open.erase(h) == 1 ? CKR_OK : CKR_SESSION_HANDLE_INVALID;
}

class SessionPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_fake = &fake_;
    functions_.C_OpenSession = &FakeOpen;
    functions_.C_CloseSession = &FakeClose;
  }
  void TearDown() override { g_fake = nullptr; }

  FakeModule fake_;
  CK_FUNCTION_LIST functions_{};
};

TEST_F(SessionPoolTest, ReturnedSessionIsReused) {
  SessionPool pool(&functions_, 0, 4);
  CK_SESSION_HANDLE first;
  {
    auto lease = pool.Acquire();
    ASSERT_TRUE(lease.ok());
    first = lease->handle();
  }
  auto again = pool.Acquire();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->handle(), first);
  EXPECT_EQ(pool.open_sessions(), 1u);
}

TEST_F(SessionPoolTest, ConcurrentLeasesNeverShareASession) {
  SessionPool pool(&functions_, 0, 64);
  std::atomic<int> overlaps{0};
  absl::Mutex mu;
  std::set<CK_SESSION_HANDLE> in_use;
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        auto lease = pool.Acquire();
        ASSERT_TRUE(lease.ok());
        {
          absl::MutexLock lock(&mu);
          if (!in_use.insert(lease->handle()).second) ++overlaps;
        }
        std::this_thread::yield();
        absl::MutexLock lock(&mu);
        in_use.erase(lease->handle());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_LE(pool.open_sessions(), 16u);
}

TEST_F(SessionPoolTest, WaitsWhenAllSessionsAreLeased) {
  SessionPool pool(&functions_, 0, 1);
  auto held = pool.Acquire();
  ASSERT_TRUE(held.ok());
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto lease = pool.Acquire();
    got = lease.ok();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(got.load());
  { auto release = std::move(*held); }
  waiter.join();
  EXPECT_TRUE(got.load());
}

TEST_F(SessionPoolTest, ForgetAllNeverClosesStaleHandles) {
  SessionPool pool(&functions_, 0, 4);
  auto leased = pool.Acquire();
  ASSERT_TRUE(leased.ok());
  { auto idle = pool.Acquire(); }
  pool.ForgetAll(*leased);
  { auto drop = std::move(*leased); }
  EXPECT_EQ(fake_.closes, 0);
  EXPECT_EQ(pool.open_sessions(), 0u);
  auto fresh = pool.Acquire();
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->handle(), 3u);  // a newly opened session
}

TEST_F(SessionPoolTest, SecondReportOfTheSameLossKeepsNewSessions) {
  SessionPool pool(&functions_, 0, 4);
  auto a = pool.Acquire();
  auto b = pool.Acquire();
  ASSERT_TRUE(a.ok() && b.ok());
  pool.ForgetAll(*a);                   // a found the loss first
  { auto fresh = pool.Acquire(); }      // recovery opened a good session
  pool.ForgetAll(*b);                   // b reports the same, old loss
  EXPECT_EQ(pool.open_sessions(), 3u);  // fresh, plus a and b until returned
  { auto drop = std::move(*b); }
  { auto drop = std::move(*a); }
  EXPECT_EQ(pool.open_sessions(), 1u);  // only the fresh one, kept
  EXPECT_EQ(fake_.closes, 0);
}

TEST_F(SessionPoolTest, ClosedLeaseIsClosedNotReturned) {
  SessionPool pool(&functions_, 0, 4);
  {
    auto lease = pool.Acquire();
    ASSERT_TRUE(lease.ok());
    lease->Close();
  }
  EXPECT_EQ(fake_.closes, 1);
  EXPECT_EQ(pool.open_sessions(), 0u);
}

TEST_F(SessionPoolTest, OpenFailureIsReportedAndFreesTheSlot) {
  SessionPool pool(&functions_, 0, 1);
  fake_.open_result = CKR_TOKEN_NOT_PRESENT;
  auto lease = pool.Acquire();
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(CkRvOf(lease.status()), CKR_TOKEN_NOT_PRESENT);
  fake_.open_result = CKR_OK;
  EXPECT_TRUE(pool.Acquire().ok());
}

}  // namespace
}  // namespace keyhold::pkcs11
