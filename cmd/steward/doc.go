// Command steward is the one binary of Steward: the API server and the tools
// around it.
//
//	steward serve                      run the server (SQLite file steward.db by default)
//	steward migrate                    apply pending database migrations
//	steward check USER ACCOUNT PERM    ask a running server; exit 0 allowed, 1 denied, 2 error
//	steward audit verify [--account]   verify audit hash chains straight from the database
//	steward version                    print the version
//
// Settings come from flags, then STEWARD_* environment variables, then the
// JSON file named by --config, in that order of precedence; `steward --help`
// lists them. The program itself is the Main type, so that tests run the
// real server on 127.0.0.1:0.
package main
