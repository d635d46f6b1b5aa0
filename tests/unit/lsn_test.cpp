#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "sqltail/logreader/lsn.h"

#include <doctest/doctest.h>

using sqltail::logreader::Lsn;

TEST_CASE("the four forms of one LSN parse to the same value (Hansen's conversion example)") {
  Lsn expected(0x11d, 0x295, 0x5b);
  CHECK(Lsn::Parse("0000011d:00000295:005b") == expected);    // fn_dblog [Current LSN]
  CHECK(Lsn::Parse("0x0000011D:00000295:005B") == expected);  // hex argument form
  CHECK(Lsn::Parse("285:661:91") == expected);                // decimal colon form
  CHECK(Lsn::Parse("285000000066100091") == expected);        // numeric(25,0)
  CHECK(Lsn::Parse("0x0000011D00000295005B") == expected);    // binary(10)
}

TEST_CASE("formatting gives each form back") {
  Lsn lsn(0x14, 0xd9, 0x2eb);
  CHECK(lsn.ToString() == "00000014:000000d9:02eb");
  CHECK(lsn.ToHexArgument() == "0x00000014:000000d9:02eb");
  CHECK(lsn.ToDecimalColon() == "20:217:747");
  CHECK(lsn.ToNumeric() == "20000000021700747");  // Rusanu's example
  CHECK(Lsn::Parse(lsn.ToNumeric()) == lsn);
  CHECK(Lsn::Parse(lsn.ToDecimalColon()) == lsn);
  CHECK(Lsn(0, 0, 0).ToNumeric() == "0");
  CHECK(Lsn(0, 3, 7).ToNumeric() == "300007");
  Lsn max(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFF);
  CHECK(Lsn::Parse(max.ToString()) == max);
  CHECK(Lsn::Parse(max.ToNumeric()) == max);
  CHECK(Lsn::Parse(max.ToDecimalColon()) == max);
}

TEST_CASE("fn_dblog's fixed-width form: upper and lower case, all digits decimal-looking, extremes") {
  CHECK(Lsn::Parse("0000011D:00000295:005B") == Lsn(0x11d, 0x295, 0x5b));
  CHECK(Lsn::Parse("00000026:00000059:0001") == Lsn(0x26, 0x59, 1));  // hex although all digits
  CHECK(Lsn::Parse("00000000:00000000:0000") == Lsn());
  CHECK(Lsn::Parse("ffffffff:FFFFFFFF:ffff") == Lsn(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFF));
  CHECK(Lsn::Parse("00000285:00000661:005") == Lsn(285, 661, 5));  // 8:8:3: the decimal form
}

TEST_CASE("LSNs order as the log does") {
  CHECK(Lsn(1, 2, 3) < Lsn(1, 2, 4));
  CHECK(Lsn(1, 2, 0xFFFF) < Lsn(1, 3, 0));
  CHECK(Lsn(1, 0xFFFFFFFF, 1) < Lsn(2, 0, 0));
  CHECK(Lsn().IsZero());
}

TEST_CASE("malformed LSNs are rejected") {
  for (const char* bad :
       {"", "1:2", "1:2:3:4", "0x1:2", "zz:1:1", "1:2:70000", "4294967296:1:1", "0000011g:00000295:005b",
        "12345678901234567890123456", "0x123", "-1:2:3", "1: 2:3", "0000011d:00000295:005 ", "+000011d:00000295:005b",
        "0000011d:0000029x:005b", "0000011d:00000295:-05b", "0000011d 00000295 005b"}) {
    CAPTURE(bad);
    CHECK_FALSE(Lsn::Parse(bad).has_value());
  }
}
