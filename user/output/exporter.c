#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>
#include "exporter.h"
#include "metrics.h"

#define RENDER_EVERY 1000000000ULL

struct ep_exporter {
	struct MHD_Daemon *daemon;
	struct ep_metrics metrics;
	struct ep_start start;
	uint64_t rendered_at;
	pthread_mutex_t lock;
	char *text; /* the latest rendering, owned under lock */
	size_t len;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     const char *body, size_t len)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *data_len, void **state)
{
	static const char index[] = "eptrace exporter: see /metrics\n";
	struct ep_exporter *e = cls;
	enum MHD_Result ret;

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "GET only\n", 9);
	if (!strcmp(url, "/"))
		return reply(c, MHD_HTTP_OK, "text/plain", index, sizeof(index) - 1);
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n", 10);
	pthread_mutex_lock(&e->lock);
	if (e->text)
		ret = reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", e->text,
			    e->len);
	else
		ret = reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "starting\n", 9);
	pthread_mutex_unlock(&e->lock);
	return ret;
}

struct ep_exporter *ep_exporter_start(const char *addr, uint16_t port, int owner_by,
				      int owner_max)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct ep_exporter *e;

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "eptrace: --prometheus: bad address %s\n", addr);
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		fprintf(stderr, "eptrace: out of memory\n");
		return NULL;
	}
	if (ep_metrics_init(&e->metrics, owner_by, owner_max)) {
		fprintf(stderr, "eptrace: out of memory\n");
		free(e);
		return NULL;
	}
	sa.sin_port = htons(port);
	pthread_mutex_init(&e->lock, NULL);
	e->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, port, NULL, NULL, handle, e,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				     /* One misbehaving client address cannot take every slot. */
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
				     MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
	if (!e->daemon) {
		fprintf(stderr, "eptrace: cannot serve metrics on %s:%u (in use, or not an address "
				"of this host)\n", addr, port);
		pthread_mutex_destroy(&e->lock);
		ep_metrics_free(&e->metrics);
		free(e);
		return NULL;
	}
	return e;
}

void ep_exporter_event(void *ctx, const struct ep_event *ev, const struct ep_alloc_info *info)
{
	struct ep_exporter *e = ctx;

	ep_metrics_event(&e->metrics, ev, info);
}

void ep_exporter_set_start(struct ep_exporter *e, const struct ep_start *s)
{
	if (e)
		e->start = *s;
}

/* The text swapped in for the next scrape; on failure the old one stays. */
static void render(struct ep_exporter *e, struct ep_agg *agg, const struct ep_summary *sum)
{
	char *text = NULL, *old;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return;
	ep_metrics_render(f, &e->metrics, agg, sum, &e->start);
	if (fclose(f)) {
		free(text);
		return;
	}
	pthread_mutex_lock(&e->lock);
	old = e->text;
	e->text = text;
	e->len = len;
	pthread_mutex_unlock(&e->lock);
	free(old);
}

uint64_t ep_exporter_publish(struct ep_exporter *e, struct ep_agg *agg, const struct ep_summary *sum,
			     uint64_t now)
{
	if (!e)
		return UINT64_MAX;
	if (!now || !e->rendered_at || now - e->rendered_at >= RENDER_EVERY) {
		e->rendered_at = now;
		render(e, agg, sum);
	}
	return e->rendered_at + RENDER_EVERY;
}

void ep_exporter_stop(struct ep_exporter *e)
{
	if (!e)
		return;
	MHD_stop_daemon(e->daemon);
	pthread_mutex_destroy(&e->lock);
	ep_metrics_free(&e->metrics);
	free(e->text);
	free(e);
}
