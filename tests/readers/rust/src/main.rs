//! Opens `$DATABASE_URL` the way a Rust app does, with sqlx (`sqlx <url>`) or Diesel
//! (`diesel`), writes one row and prints how many rows the table holds.

use std::env;

fn main() {
    let mode = env::args()
        .nth(1)
        .expect("usage: sqlite-probe sqlx|diesel VALUE");
    let value: i64 = env::args()
        .nth(2)
        .expect("a value")
        .parse()
        .expect("a number");
    let url = env::var("DATABASE_URL").expect("DATABASE_URL is not set");
    let count = match mode.as_str() {
        "sqlx" => with_sqlx(&url, value),
        "diesel" => with_diesel(&url, value),
        other => panic!("unknown mode {other}"),
    };
    println!("{count}");
}

fn with_sqlx(url: &str, value: i64) -> i64 {
    use sqlx::Connection;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // As apps do: `SqliteConnection::connect(&env::var("DATABASE_URL")?)`; the file must
        // exist (sqlx does not create it unless `?mode=rwc`), as git-agent's does.
        let mut conn = sqlx::SqliteConnection::connect(url)
            .await
            .expect("sqlx could not open DATABASE_URL");
        sqlx::query("create table if not exists probe (x integer)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("insert into probe values (?)")
            .bind(value)
            .execute(&mut conn)
            .await
            .unwrap();
        let (n,): (i64,) = sqlx::query_as("select count(*) from probe")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        n
    })
}

fn with_diesel(url: &str, value: i64) -> i64 {
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = SqliteConnection::establish(url).expect("diesel could not open DATABASE_URL");
    diesel::sql_query("create table if not exists probe (x integer)")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query(format!("insert into probe values ({value})"))
        .execute(&mut conn)
        .unwrap();
    let rows: Vec<Count> = diesel::sql_query("select count(*) as n from probe")
        .load(&mut conn)
        .unwrap();
    rows[0].n
}
