package serve

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the Prometheus series the server exports on /metrics. Each server has
// its own registry, so tests can run many servers in one process.
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec   // by route and status code
	latency     *prometheus.HistogramVec // request duration by route
	batchSize   prometheus.Histogram     // images per engine call
	inference   prometheus.Histogram     // engine call duration
	queueWait   prometheus.Histogram     // time an image waited for a batch
	queueDepth  prometheus.Gauge         // images admitted and not yet in a batch
	inflight    prometheus.Gauge         // requests being handled
	rejections  *prometheus.CounterVec   // refused requests by reason
	images      prometheus.Counter       // images tagged
	decodeBytes prometheus.Gauge         // decoded-image bytes held (decode budget in use)
	reloads     *prometheus.CounterVec   // model reloads by result
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "autotag_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "autotag_http_request_duration_seconds", Help: "HTTP request duration by route.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"route"})
	m.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "autotag_batch_size", Help: "Images per engine batch.",
		Buckets: []float64{1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64},
	})
	m.inference = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "autotag_inference_duration_seconds", Help: "Duration of one engine batch.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	})
	m.queueWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "autotag_queue_wait_seconds", Help: "Time an image waited in the queue before its batch started.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
	})
	m.queueDepth = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "autotag_queue_depth", Help: "Images admitted to the batch queue and not yet running.",
	})
	m.inflight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "autotag_http_inflight_requests", Help: "Requests being handled.",
	})
	m.rejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "autotag_rejections_total", Help: "Requests refused on purpose, by reason (queue_full, rate_limited, unauthorized, auth_failures, bad_host, cross_site, body_too_large, read_budget, too_many_pixels, too_many_parts, decode_budget, not_ready, too_many_conns).",
	}, []string{"reason"})
	m.images = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "autotag_images_total", Help: "Images tagged.",
	})
	m.decodeBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "autotag_decode_budget_bytes_in_use", Help: "Estimated bytes of decoded images held by requests.",
	})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "autotag_model_reloads_total", Help: "Model reloads by result (ok, error).",
	}, []string{"result"})
	m.reg.MustRegister(m.requests, m.latency, m.batchSize, m.inference, m.queueWait, m.queueDepth,
		m.inflight, m.rejections, m.images, m.decodeBytes, m.reloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
