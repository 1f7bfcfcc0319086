// Command kfake runs one fake Kafka broker (github.com/twmb/franz-go/pkg/kfake, which speaks
// the real wire protocol) on a given address for the kafka probe's tests.
//
// It prints "listening HOST:PORT" once the broker accepts connections, then reads commands on
// standard input, one per line, and acknowledges each with "ok COMMAND":
//
//	mute   ApiVersions requests are read but never answered (the broker "stops answering")
//	close  ApiVersions requests close the connection
//	serve  ApiVersions requests are answered normally again
//
// It exits when standard input closes.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	serve int32 = iota
	mute
	closeConn
)

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on (kfake itself binds 127.0.0.1)")
	port := flag.Int("port", 0, "port to listen on (0 picks one)")
	flag.Parse()

	var mode atomic.Int32
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(*port),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(*host, strconv.Itoa(*port)))
		}),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	defer cluster.Close()

	// One control function for every ApiVersions request, kept for the life of the broker.
	cluster.ControlKey(int16(kmsg.ApiVersions), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		switch mode.Load() {
		case mute:
			return nil, nil, true // handled, nothing written: the client waits forever
		case closeConn:
			return nil, errors.New("closed by test"), true
		default:
			return nil, nil, false // the broker answers as usual
		}
	})

	addrs := cluster.ListenAddrs()
	if len(addrs) != 1 {
		fmt.Fprintln(os.Stderr, "kfake: expected one listener, got", addrs)
		os.Exit(1)
	}
	fmt.Println("listening", addrs[0])

	commands := map[string]int32{"serve": serve, "mute": mute, "close": closeConn}
	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		command := scanner.Text()
		next, known := commands[command]
		if !known {
			fmt.Println("unknown", command)
			continue
		}
		mode.Store(next)
		fmt.Println("ok", command)
	}
}
