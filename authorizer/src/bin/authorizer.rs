//! The Lambda function: build everything once, then serve invocations.

#![forbid(unsafe_code)]

use authorizer::function::{Function, FunctionConfig};
use clap::Parser;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    authorizer::log::init();
    let config = FunctionConfig::try_parse_from(["authorizer"]).map_err(|e| e.to_string())?;
    authorizer::metrics::init(&config.metrics, authorizer::metrics::Sink::Stdout);
    authorizer::metrics::cold_start("authorizer");
    let function = Function::from_config(&config).await?;
    function.preload().await;
    let function = &function;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        function
            .handle(event.payload, Some(event.context.request_id))
            .await
    }))
    .await
}
