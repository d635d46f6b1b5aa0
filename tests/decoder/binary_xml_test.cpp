// xml columns: SQL Server binary XML ([MS-BINXML]) to text. Byte strings are built from the spec's
// token table: header DF FF 01 B0 04 (signature, version 1, code page 1200), NAMEDEF F0 <mb32 chars>
// <UTF-16LE>, QNAMEDEF EF <ns> <prefix> <local> (name ids), ELEMENT F8 <qname>, ATTRIBUTE F6 <qname>
// <value>, END-ATTRIBUTES F5, END-ELEMENT F7, SQL-NVARCHAR text 11 <mb32 chars> <UTF-16LE>.
#include "decode/binary_xml.h"

#include <doctest/doctest.h>

#include <random>

#include "test_support.h"

using namespace sqltail::logreader;
using namespace sqltail::test;

namespace {

class BinXml {
 public:
  BinXml() : bytes_{0xDF, 0xFF, 0x01, 0xB0, 0x04} {}
  BinXml& Name(std::u16string_view name) {  // id = order of definition, from 1
    bytes_.push_back(0xF0);
    return Chars(name);
  }
  BinXml& QName(uint32_t ns, uint32_t prefix, uint32_t local) {
    bytes_.push_back(0xEF);
    Mb32(ns);
    Mb32(prefix);
    Mb32(local);
    return *this;
  }
  BinXml& Element(uint32_t qname) {
    bytes_.push_back(0xF8);
    Mb32(qname);
    return *this;
  }
  BinXml& Attribute(uint32_t qname, std::u16string_view value) {
    bytes_.push_back(0xF6);
    Mb32(qname);
    return Text(value);
  }
  BinXml& EndAttributes() { return Byte(0xF5); }
  BinXml& End() { return Byte(0xF7); }
  BinXml& Text(std::u16string_view text) {
    bytes_.push_back(0x11);
    return Chars(text);
  }
  BinXml& Byte(uint8_t byte) {
    bytes_.push_back(byte);
    return *this;
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  void Mb32(uint32_t value) {  // 7 bits per byte, low group first, 0x80 = another byte follows
    do {
      uint8_t byte = value & 0x7F;
      value >>= 7;
      if (value != 0) byte |= 0x80;
      bytes_.push_back(byte);
    } while (value != 0);
  }
  BinXml& Chars(std::u16string_view text) {
    Mb32(static_cast<uint32_t>(text.size()));
    for (char16_t unit : text) {
      bytes_.push_back(static_cast<uint8_t>(unit));
      bytes_.push_back(static_cast<uint8_t>(unit >> 8));
    }
    return *this;
  }
  std::vector<uint8_t> bytes_;
};

std::string ToText(const std::vector<uint8_t>& bytes, std::string* error = nullptr) {
  std::string text;
  std::string failure;
  if (!decode::BinaryXmlToText(bytes.data(), static_cast<uint32_t>(bytes.size()), text, &failure)) {
    if (error != nullptr) *error = failure;
    return "<refused>";
  }
  return text;
}

}  // namespace

TEST_CASE("binary XML: elements, attributes, text, escaping") {
  BinXml xml;
  xml.Name(u"root").QName(0, 0, 1).Name(u"a").QName(0, 0, 2).Name(u"item").QName(0, 0, 3);
  xml.Element(1).Attribute(2, u"1 \"q\" <&>").EndAttributes();
  xml.Text(u"hi & <bye>").Element(3).End().Element(3).Text(u"caf\u00E9 \u4E2D").End().End();
  CHECK(ToText(xml.bytes()) ==
        "<root a=\"1 &quot;q&quot; &lt;&amp;&gt;\">hi &amp; &lt;bye&gt;<item /><item>café 中</item></root>");
}

TEST_CASE("binary XML: prefixes, namespaces declared as attributes, long names, name flush") {
  BinXml xml;
  // names: 1 urn:x, 2 p, 3 doc, 4 xmlns, 5 http://www.w3.org/2000/xmlns/
  xml.Name(u"urn:x").Name(u"p").Name(u"doc").Name(u"xmlns").Name(u"http://www.w3.org/2000/xmlns/");
  xml.QName(1, 2, 3).QName(5, 4, 2);          // qname 1 = p:doc, qname 2 = xmlns:p
  const std::u16string long_text(200, u'x');  // character count 200 = mb32 C8 01
  xml.Element(1).Attribute(2, u"urn:x").EndAttributes().Text(long_text).End();
  xml.Byte(0xE9);  // FLUSH-DEFINED-NAME-TOKENS: ids start again from 1
  xml.Name(u"second").QName(0, 0, 1).Element(1).End();
  CHECK(ToText(xml.bytes()) == "<p:doc xmlns:p=\"urn:x\">" + std::string(200, 'x') + "</p:doc><second />");
}

TEST_CASE("binary XML: tokens outside the subset and malformed values are refused") {
  std::string error;
  CHECK(ToText({0x3C, 0x61, 0x3E}, &error) == "<refused>");  // text XML, not binary
  CHECK(error.find("signature") != std::string::npos);
  BinXml comment;
  comment.Byte(0xF3).Text(u"c");  // COMMENT-TOKEN
  CHECK(ToText(comment.bytes(), &error) == "<refused>");
  CHECK(error.find("0xF3 is outside the supported subset at byte 5") != std::string::npos);
  BinXml undefined;
  undefined.Element(1).End();
  CHECK(ToText(undefined.bytes(), &error) == "<refused>");
  CHECK(error.find("undefined qname") != std::string::npos);
  BinXml unbalanced;
  unbalanced.Name(u"a").QName(0, 0, 1).Element(1);
  CHECK(ToText(unbalanced.bytes(), &error) == "<refused>");
  BinXml stray;
  stray.End();
  CHECK(ToText(stray.bytes(), &error) == "<refused>");
  BinXml overlong;
  overlong.Byte(0x11).Byte(0x05).Byte(0x41).Byte(0x00);  // 5 characters announced, 1 present
  CHECK(ToText(overlong.bytes(), &error) == "<refused>");
  CHECK(error.find("runs past") != std::string::npos);
  BinXml surrogate;
  surrogate.Text(u"\xD800");
  CHECK(ToText(surrogate.bytes(), &error) == "<refused>");
  // Every truncation of a valid value is refused or decodes; never reads past the end.
  BinXml full;
  full.Name(u"r").QName(0, 0, 1).Element(1).Attribute(1, u"v").EndAttributes().Text(u"t").End();
  for (size_t cut = 0; cut < full.bytes().size(); ++cut) {
    std::vector<uint8_t> part(full.bytes().begin(), full.bytes().begin() + static_cast<std::ptrdiff_t>(cut));
    (void)ToText(part);
  }
}

TEST_CASE("xml columns render as a JSON string, in FixedVar and CD records; bad bytes name the column") {
  BinXml xml;
  xml.Name(u"r").QName(0, 0, 1).Element(1).Text(u"a\"b").End();
  ColumnLayout column = Column("doc", "xml", -1, -1, 1);
  bool ok = false;
  CHECK(RenderValue(column, xml.bytes(), ok) == R"("<r>a\"b</r>")");
  CHECK(ok);
  // In a row-compressed record: xml is a long (in-row) value, unchanged by compression.
  TableLayout layout;
  layout.compression = Compression::kRow;
  layout.columns = {column};
  std::vector<uint8_t> record = {0x21, 0x01, 0x1A, 0x01, 0x01, 0x00, static_cast<uint8_t>(xml.bytes().size()), 0x00};
  record.insert(record.end(), xml.bytes().begin(), xml.bytes().end());
  DecodedRecord decoded;
  DecodeError error;
  REQUIRE(DecodeRecord(layout, record, decoded, error));
  std::string json, failure;
  REQUIRE(RenderRecordJson(layout, decoded, json, failure));
  CHECK(json.find(R"("doc":"<r>a\"b</r>")") != std::string::npos);
  record[record.size() - 1] = 0xF3;  // last token (END-ELEMENT) replaced by COMMENT
  REQUIRE(DecodeRecord(layout, record, decoded, error));
  json.clear();
  CHECK_FALSE(RenderRecordJson(layout, decoded, json, failure));
  CHECK(failure.find("doc") != std::string::npos);
}

TEST_CASE("binary XML round trip: random trees from a seed") {
  std::mt19937 random(3);
  const std::u16string names[] = {u"a", u"bb", u"item", u"x-y", u"\u00E9t\u00E9"};
  const std::u16string texts[] = {u"", u"1", u"a&b", u"<tag>", u"\"q\"", u"\u4E2D\u6587", u"\U0001F600"};
  const std::string names_utf8[] = {"a", "bb", "item", "x-y", "été"};
  const std::string texts_utf8[] = {"", "1", "a&amp;b", "&lt;tag&gt;", "\"q\"", "中文", "😀"};
  const std::string attribute_utf8[] = {"", "1", "a&amp;b", "&lt;tag&gt;", "&quot;q&quot;", "中文", "😀"};
  for (int round = 0; round < 500; ++round) {
    BinXml xml;
    for (const auto& name : names) xml.Name(name);
    for (uint32_t i = 1; i <= 5; ++i) xml.QName(0, 0, i);
    std::string expected;
    std::vector<int> open;
    bool start_open = false;
    for (int step = 0; step < 30; ++step) {
      const int action = static_cast<int>(random() % 4);
      if (action == 0 && open.size() < 8) {
        if (start_open) expected += '>';
        const int id = static_cast<int>(random() % 5);
        xml.Element(id + 1);
        expected += "<" + names_utf8[id];
        open.push_back(id);
        start_open = true;
        if (random() % 2) {
          const int attribute = static_cast<int>(random() % 5);
          const int value = static_cast<int>(random() % 7);
          xml.Attribute(attribute + 1, texts[value]);
          expected += " " + names_utf8[attribute] + "=\"" + attribute_utf8[value] + "\"";
          xml.EndAttributes();
          expected += '>';
          start_open = false;
        }
      } else if (action == 1 && !open.empty()) {
        const int value = static_cast<int>(random() % 7);
        xml.Text(texts[value]);
        if (start_open) expected += '>';
        start_open = false;
        expected += texts_utf8[value];
      } else if (!open.empty()) {
        xml.End();
        expected += start_open ? " />" : "</" + names_utf8[open.back()] + ">";
        start_open = false;
        open.pop_back();
      }
    }
    while (!open.empty()) {
      xml.End();
      expected += start_open ? " />" : "</" + names_utf8[open.back()] + ">";
      start_open = false;
      open.pop_back();
    }
    REQUIRE(ToText(xml.bytes()) == expected);
  }
}
