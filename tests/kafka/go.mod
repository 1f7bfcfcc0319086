// This module exists only to build kfake, a fake Kafka cluster speaking the real wire protocol,
// for the kafka probe's tests. It is separate from tests/kube so that changing it never
// rebuilds the API server. The product is TypeScript; nothing here ships.
module helaseid.test/kafka

go 1.26.0

require (
	github.com/twmb/franz-go/pkg/kfake v0.0.0-20260918054303-01f206a7e32c
	github.com/twmb/franz-go/pkg/kmsg v1.15.1
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/twmb/franz-go v1.22.3 // indirect
)
