//! Deletes the topics the test suite made on the local broker (`t_<id>.*`).
//! `infra/local/test.sh` runs it after the suite; tests themselves do not
//! delete topics while other tests run (see `ticketing_testkit::cleanup`).

use ticketing_config::Profile;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings = ticketing_config::load(Profile::Local)?;
    let deleted = ticketing_testkit::sweep_test_topics(&settings).await?;
    println!("deleted {deleted} test topic(s)");
    Ok(())
}
