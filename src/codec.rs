//! How server functions' answers travel: JSON, as Leptos sends them by default, but read in the
//! browser from text.
//!
//! A page's resources are decoded from the text the server wrote into the page (serde_json's
//! `from_str`), while Leptos' default codec decodes the same types, when their server function
//! is called again from the browser, from bytes (`from_slice`). Each reader is a separate copy
//! of every answer type's decoder in the WebAssembly: the review page carried two of each
//! (docs/BENCHMARKS.md, "Page weight"). Every server function declares
//! `output = JsonText`, so the browser holds one. On the wire nothing changes: the same JSON,
//! with the same content type.

use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// JSON read from text; see the module's documentation.
pub struct JsonTextEncoding;

/// A server function's answer as JSON in the body of the `POST`'s response, read from text.
pub type JsonText = Post<JsonTextEncoding>;

impl ContentType for JsonTextEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonTextEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonTextEncoding {
    type Error = String;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(|e| format!("the answer is not UTF-8: {e}"))?;
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Answer {
        id: i64,
        note: Option<String>,
    }

    #[test]
    fn an_answer_reads_back_as_it_was_written() {
        let answer = Answer { id: 7, note: Some("«é» \u{1F600}".into()) };
        let bytes = <JsonTextEncoding as Encodes<Answer>>::encode(&answer).unwrap();
        assert_eq!(&bytes[..], serde_json::to_vec(&answer).unwrap().as_slice(), "the same JSON as the default codec");
        assert_eq!(<JsonTextEncoding as Decodes<Answer>>::decode(bytes).unwrap(), answer);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let not_utf8 = Bytes::from_static(&[b'{', 0xff, b'}']);
        assert!(<JsonTextEncoding as Decodes<Answer>>::decode(not_utf8).unwrap_err().contains("UTF-8"));
        let wrong_shape = Bytes::from_static(br#"{"id":"seven"}"#);
        assert!(<JsonTextEncoding as Decodes<Answer>>::decode(wrong_shape).is_err());
    }
}
