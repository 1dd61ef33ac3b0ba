import Testing
@testable import HybridStore

@Suite struct SQLScriptTests {
    @Test func splitsOnSemicolonsOutsideQuotesAndComments() {
        let sql = """
            -- a comment; with a semicolon
            CREATE TABLE a (x TEXT DEFAULT 'semi;colon', "we;ird" INT);
            /* block; comment /* nested; */ still */ INSERT INTO a VALUES ('it''s; fine', 1);
            INSERT INTO t (c) VALUES ($json$ {"a": ";"} $json$);
            CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql;
            SELECT $1;
            -- trailing comment only
            """
        let statements = SQLScript.statements(sql)
        #expect(statements.count == 5)
        #expect(statements[0].hasSuffix("CREATE TABLE a (x TEXT DEFAULT 'semi;colon', \"we;ird\" INT)"))
        #expect(statements[1].hasSuffix("INSERT INTO a VALUES ('it''s; fine', 1)"))
        #expect(statements[2] == "INSERT INTO t (c) VALUES ($json$ {\"a\": \";\"} $json$)")
        #expect(statements[3] == "CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql")
        #expect(statements[4] == "SELECT $1")
    }

    @Test func emptyScriptsHaveNoStatements() {
        #expect(SQLScript.statements("").isEmpty)
        #expect(SQLScript.statements("-- nothing\n;\n  ;").isEmpty)
    }
}
