//! A client of the live feed (Server-Sent Events) of a listing.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use serde_json::Value;

use super::harness::TestApp;
use super::trading::Auction;

/// How long a feed may stay silent before the test fails (instead of hanging).
const FEED_READ_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Event {
    pub event: String,
    pub id: Option<String>,
    pub data: Value,
}

/// The next event of a feed, skipping comments; `None` when the stream ends. A read timeout
/// panics, so a silent feed fails the test instead of hanging it.
pub fn next_event(r: &mut dyn BufRead) -> Option<Event> {
    let (mut event, mut id, mut data) = (None, None, String::new());
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).expect("feed read");
        if n == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if let Some(event) = event.take() {
                return Some(Event {
                    event,
                    id: id.take(),
                    data: serde_json::from_str(&data).expect("event data is JSON"),
                });
            }
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        if let Some(v) = line.strip_prefix("event: ") {
            event = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data.push_str(v);
        } else {
            panic!("unexpected feed line {line:?}");
        }
    }
}

/// The next `bid` or `closed` event (skipping `extended`).
pub fn next_main_event(r: &mut dyn BufRead) -> Option<Event> {
    loop {
        let e = next_event(r)?;
        if e.event != "extended" {
            return Some(e);
        }
    }
}

pub fn open_feed(app: &TestApp, a: &Auction, last_event_id: Option<&str>) -> Box<dyn BufRead> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(10))
        .timeout_read(FEED_READ_TIMEOUT)
        .build();
    let mut req = agent.get(&app.url(&a.path("/events")));
    if let Some(id) = last_event_id {
        req = req.set("Last-Event-ID", id);
    }
    let res = req.call().expect("feed opens");
    assert_eq!(res.status(), 200);
    assert_eq!(res.content_type(), "text/event-stream");
    Box::new(BufReader::new(res.into_reader()))
}
