// Reads fn_dblog from a TDS server with Microsoft's JDBC driver and prints what it got, for
// tests/tds/jdbc_client_test.sh to compare with the fixture: one "column" line per result column
// (name, type name, precision, nullable) and one "row" line per row (tab-separated; NULL as \N,
// binary as 0x + upper-case hex).
//   java FnDblogRead PORT "SQL"
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;

public final class FnDblogRead {
  public static void main(String[] args) throws Exception {
    String url = "jdbc:sqlserver://127.0.0.1:" + args[0]
        + ";databaseName=source_db;user=sqltail;password=x;encrypt=false;loginTimeout=10";
    try (Connection connection = DriverManager.getConnection(url);
         Statement statement = connection.createStatement()) {
      for (int i = 1; i < args.length; i++) {
        System.out.println("query\t" + args[i]);
        try (ResultSet rs = statement.executeQuery(args[i])) {
          ResultSetMetaData meta = rs.getMetaData();
          int n = meta.getColumnCount();
          for (int c = 1; c <= n; c++) {
            System.out.println("column\t" + meta.getColumnName(c) + "\t" + meta.getColumnTypeName(c) + "\t"
                + meta.getPrecision(c) + "\t" + (meta.isNullable(c) == ResultSetMetaData.columnNullable));
          }
          while (rs.next()) {
            StringBuilder line = new StringBuilder("row");
            for (int c = 1; c <= n; c++) {
              line.append('\t');
              int type = meta.getColumnType(c);
              if (type == Types.VARBINARY || type == Types.BINARY) {
                byte[] bytes = rs.getBytes(c);
                if (bytes == null) {
                  line.append("\\N");
                } else {
                  line.append("0x");
                  for (byte b : bytes) line.append(String.format("%02X", b));
                }
              } else {
                String text = rs.getString(c);
                line.append(text == null ? "\\N" : text);
              }
            }
            System.out.println(line);
          }
        } catch (SQLException e) {
          System.out.println("error\t" + e.getErrorCode() + "\t" + e.getMessage());
        }
      }
    }
  }
}
