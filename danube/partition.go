package danube

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
)

// PartitionTopic returns the name of partition i of topic: "{topic}-part-{i}".
func PartitionTopic(topic string, i int) string {
	return topic + "-part-" + strconv.Itoa(i)
}

// SplitPartition splits a broker topic name into the logical topic and the
// partition index: "/ns/t-part-3" → ("/ns/t", 3); "/ns/t" → ("/ns/t", -1).
func SplitPartition(topic string) (logical string, partition int) {
	i := strings.LastIndex(topic, "-part-")
	if i < 0 {
		return topic, -1
	}
	digits := topic[i+len("-part-"):]
	if digits == "" || len(digits) > 9 {
		return topic, -1
	}
	n := 0
	for j := 0; j < len(digits); j++ {
		c := digits[j]
		if c < '0' || c > '9' {
			return topic, -1
		}
		n = n*10 + int(c-'0')
	}
	return topic[:i], n
}

// Partitions returns the topics a consumer of topic reads: the names of its
// partitions ("{topic}-part-{i}", in order) when it is partitioned, else
// [topic] itself (also when it does not exist yet: subscribing then
// reports ErrNotFound). Each name can be subscribed to on its own, which
// lets a caller give every partition its own receive path and flow
// control. Transient failures are retried with the client's retry policy.
func (c *Client) Partitions(ctx context.Context, topic string) ([]string, error) {
	if err := validateTopic(topic); err != nil {
		return nil, newError(fmt.Sprintf("partitions of %q", topic), codes.InvalidArgument, err.Error())
	}
	return c.partitions(ctx, topic, 1)
}
