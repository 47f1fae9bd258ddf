//! A demo booking against a running platform, through its gateway and the
//! PortOne sandbox, as a person would do it: identity verification, sign-up,
//! login, a performance, the waiting room, a seat hold, payment, and the
//! reservation `CONFIRMED`. `infra/local/up.sh` ends with it.

use std::time::Duration;

use url::Url;
use uuid::Uuid;

use crate::client::{field, Checkout, Client, E2eError, NewPerformance, TEST_CARD};

/// What the demo booked.
#[derive(Debug)]
pub struct Booked {
    pub reservation_id: String,
    pub status: String,
    pub amount: i64,
    pub seats: Vec<String>,
}

/// The demo, talking to a gateway and a sandbox.
pub struct Demo {
    client: Client,
    /// An organiser's access token: the concert is theirs, the booking the
    /// customer's.
    organiser: String,
}

impl Demo {
    pub fn new(gateway: Url, sandbox: Url, organiser: String) -> Result<Demo, E2eError> {
        Ok(Demo {
            client: Client::new(gateway, sandbox, Duration::from_secs(15))?,
            organiser,
        })
    }

    /// Runs the whole booking; `say` reports each step.
    pub async fn run(&self, mut say: impl FnMut(&str)) -> Result<Booked, E2eError> {
        let client = &self.client;
        let person = Uuid::now_v7().simple().to_string();
        let imp_uid = client.certify(&person, "Demo Customer").await?;
        say(&format!(
            "identity verified at the PortOne sandbox ({imp_uid})"
        ));

        let email = format!("demo-{person}@example.com");
        let token = client
            .sign_up(&imp_uid, &email, "demo password 1234")
            .await?;
        say(&format!("signed up and logged in as {email}"));

        let concert = NewPerformance {
            title: "Demo Concert".into(),
            venue: "Olympic Hall".into(),
            starts_at: chrono::Utc::now() + chrono::Duration::days(30),
            section: "VIP".into(),
            rows: 2,
            seats_per_row: 10,
            price: 1,
        };
        // Customers cannot create performances; the organiser does.
        let performance = client.create_performance(&self.organiser, &concert).await?;
        let map = client.seat_map(performance).await?;
        let all: Vec<Uuid> = map["seats"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["id"].as_str()?.parse().ok())
            .collect();
        say(&format!(
            "performance {performance} with {} seats",
            all.len()
        ));
        let seats = &all[..all.len().min(2)];

        let qr = client
            .admitted(&token, performance, Duration::from_secs(20))
            .await?;
        say("admitted from the waiting room (reservation token qr_...)");

        let held = client
            .hold(&token, &qr, performance, seats)
            .await?
            .expect("holding seats", &[201])?;
        let reservation = field(&held, "reservation_id")?;
        let amount = held["amount"].as_i64().unwrap_or_default();
        say(&format!(
            "held {} seats: reservation {reservation} PENDING, {amount} KRW",
            seats.len()
        ));

        let prepared = client
            .prepare(&token, &field(&held, "payment_token")?)
            .await?
            .expect("preparing the payment", &[200])?;
        let merchant = field(&prepared, "merchant_uid")?;
        let outcome = client
            .checkout(&Checkout {
                merchant_uid: &merchant,
                amount,
                card: TEST_CARD,
                notice_url: None,
                ignore_prepare: false,
            })
            .await?;
        say(&format!(
            "paid at the PortOne sandbox (test card): {}, webhook answered {}",
            outcome["payment"]["status"], outcome["webhook"]["status"]
        ));

        let settled = client
            .reservation_until(&token, &reservation, Duration::from_secs(30), |r| {
                r["status"] != "PENDING"
            })
            .await?;
        Ok(Booked {
            reservation_id: reservation,
            status: field(&settled, "status")?,
            amount,
            seats: seats.iter().map(Uuid::to_string).collect(),
        })
    }
}
