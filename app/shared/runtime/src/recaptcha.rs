//! reCAPTCHA checks for sign-up and queue entry: Google's siteverify API, or
//! a test mode for the local stack (no Google there) where tokens starting
//! with `test-pass` pass and anything else fails.

use serde::Deserialize;
use std::time::Duration;
use ticketing_config::{BookingSettings, RecaptchaMode, SecretString};
use ticketing_http::ApiError;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum RecaptchaError {
    #[error("a reCAPTCHA token is required (`recaptcha_token`)")]
    Missing,
    #[error("the reCAPTCHA check failed ({0}); solve the challenge again")]
    Rejected(String),
    #[error("the reCAPTCHA score {score} is below {min}; solve the challenge again")]
    LowScore { score: f64, min: f64 },
    #[error("reCAPTCHA could not be verified right now: {0}; try again shortly")]
    Unavailable(String),
}

impl From<RecaptchaError> for ApiError {
    fn from(e: RecaptchaError) -> ApiError {
        match e {
            RecaptchaError::Unavailable(_) => {
                ApiError::unavailable("recaptcha_unavailable", e.to_string())
            }
            RecaptchaError::Missing => ApiError::bad_request("recaptcha_missing", e.to_string()),
            _ => ApiError::forbidden("recaptcha_failed", e.to_string()),
        }
    }
}

#[derive(Debug, Deserialize)]
struct SiteVerify {
    success: bool,
    score: Option<f64>,
    #[serde(rename = "error-codes", default)]
    error_codes: Vec<String>,
}

/// Verifies reCAPTCHA tokens as configured.
#[derive(Clone, Debug)]
pub struct Recaptcha {
    mode: RecaptchaMode,
    verify_url: Url,
    min_score: f64,
    secret: SecretString,
    http: reqwest::Client,
}

impl Recaptcha {
    pub fn new(settings: &BookingSettings, secret: SecretString, http: reqwest::Client) -> Self {
        Recaptcha {
            mode: settings.recaptcha_mode,
            verify_url: settings.recaptcha_verify_url.clone(),
            min_score: settings.recaptcha_min_score,
            secret,
            http,
        }
    }

    pub async fn verify(&self, token: &str, remote_ip: Option<&str>) -> Result<(), RecaptchaError> {
        // Missing means absent or empty (as the API documents it: at least
        // one character); blanks around a token are not part of it.
        if token.is_empty() {
            return Err(RecaptchaError::Missing);
        }
        let token = token.trim();
        match self.mode {
            RecaptchaMode::Test if token.starts_with("test-pass") => Ok(()),
            RecaptchaMode::Test => Err(RecaptchaError::Rejected(
                "test mode accepts only tokens starting with `test-pass`".into(),
            )),
            RecaptchaMode::Google => self.siteverify(token, remote_ip).await,
        }
    }

    async fn siteverify(&self, token: &str, remote_ip: Option<&str>) -> Result<(), RecaptchaError> {
        use secrecy::ExposeSecret;
        let mut form = vec![
            ("secret", self.secret.expose_secret().to_owned()),
            ("response", token.to_owned()),
        ];
        if let Some(ip) = remote_ip {
            form.push(("remoteip", ip.to_owned()));
        }
        let answer: SiteVerify = self
            .http
            .post(self.verify_url.clone())
            .timeout(Duration::from_secs(5))
            .form(&form)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| RecaptchaError::Unavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| RecaptchaError::Unavailable(e.to_string()))?;
        if !answer.success {
            return Err(RecaptchaError::Rejected(answer.error_codes.join(", ")));
        }
        match answer.score {
            Some(score) if score < self.min_score => Err(RecaptchaError::LowScore {
                score,
                min: self.min_score,
            }),
            _ => Ok(()),
        }
    }
}
