package servicebus

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/ctsync/ctsync/pkg/bus"
	"github.com/ctsync/ctsync/pkg/bus/bustest"
)

// The contract runs against a real Service Bus queue when one is configured:
//
//	CTSYNC_TEST_SERVICEBUS_CONNECTION_STRING  a connection string with Send and Listen rights
//	CTSYNC_TEST_SERVICEBUS_QUEUE              a queue for tests only (it is drained), created with
//	                                          requiresDuplicateDetection and a 5-second lock duration
//
// Service Bus cannot run on the build machines (its emulator needs Docker),
// so without these settings the test is skipped.
func TestServiceBusMeetsTheContract(t *testing.T) {
	conn, queue := os.Getenv("CTSYNC_TEST_SERVICEBUS_CONNECTION_STRING"), os.Getenv("CTSYNC_TEST_SERVICEBUS_QUEUE")
	if conn == "" || queue == "" {
		t.Skip("skipped: Azure Service Bus cannot run on this machine (its emulator needs Docker); set CTSYNC_TEST_SERVICEBUS_CONNECTION_STRING and CTSYNC_TEST_SERVICEBUS_QUEUE to run the bus contract against a real namespace")
	}
	bustest.Contract(t, func(t *testing.T) (bus.Bus, string) {
		q, err := Connect(conn, nil, []string{queue})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close(context.Background()) })
		drain(t, q, queue)
		return q, queue
	}, bustest.Options{LockExpiry: 6 * time.Second})
}

func drain(t *testing.T, q *Queue, queue string) {
	t.Helper()
	for {
		ds, err := q.Receive(context.Background(), []string{queue}, 50, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			return
		}
		for _, d := range ds {
			if err := q.Ack(context.Background(), d); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// The mapping between bus messages and Service Bus messages is checked
// without a namespace: it is plain data. Attempts travel in the body (the
// router's CloudEvent attributes), so a delivery's count is Service Bus's own.
func TestMessagesMapOntoServiceBusMessages(t *testing.T) {
	at := time.Now().Add(time.Minute)
	msg := message(bus.Outgoing{ID: "evt", Queue: "q", Body: []byte(`{"ctsyncattempts":3}`), NotBefore: at})
	if *msg.MessageID != "evt" || *msg.ContentType != ContentType || msg.ScheduledEnqueueTime == nil || !msg.ScheduledEnqueueTime.Equal(at.UTC()) {
		t.Fatalf("message %+v", msg)
	}
	received := &azservicebus.ReceivedMessage{MessageID: "evt", DeliveryCount: 2, Body: msg.Body}
	q := New(nil, nil)
	d := q.track("q", nil, received)
	if d.DeliveryCount != 2 || string(d.Body) != `{"ctsyncattempts":3}` {
		t.Fatalf("delivery %+v", d)
	}
	if err := q.Ack(context.Background(), bus.Delivery{LockToken: "unknown"}); err == nil {
		t.Fatal("settling an unknown lock must fail")
	}
}
