#include "mupgrade/core/error.hpp"
#include "mupgrade/core/secret.hpp"

#include <gtest/gtest.h>

TEST(SecretTest, FormattingNeverShowsTheValue) {
  mupgrade::Secret s("hunter2");
  EXPECT_EQ(fmt::format("password={}", s), "password=********");
  EXPECT_EQ(s.reveal(), "hunter2");
}

TEST(ErrorTest, DescribesWhatFailedAndTheHint) {
  mupgrade::Error e("cannot reach the Docker daemon at /x (Couldn't connect)", "start it");
  EXPECT_EQ(mupgrade::describe_error(e),
            "mupgrade: error: cannot reach the Docker daemon at /x (Couldn't connect)\nmupgrade: hint: start it");
  std::runtime_error plain("boom");
  EXPECT_EQ(mupgrade::describe_error(plain), "mupgrade: error: boom");
}
