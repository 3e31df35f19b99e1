/* Lanes: concurrent operations on a key server, each on a connection of
 * its own. p11-kit's RPC client can leave a thread waiting forever when
 * its server dies while two threads' calls share the connection
 * (rpc_socket_read, 0.24 to 0.26), so each connection carries one call at
 * a time. Threads that sign at once would then queue; instead, each takes
 * a lane: lane 0 is the module as loaded, lane k > 0 another instance of
 * it (p11-kit's client connects anew for each), with the same token found
 * there, logged in with the PIN that logged in the first, and the key
 * found again by class, id and label. Modules without such instances
 * (every local one) have the one lane. Above module.c, tokens.c, login.c
 * and object.c; the runner uses it. */
#ifndef PKCS11PROV_LANES_H
#define PKCS11PROV_LANES_H

#include "core/object.h"

/* The object to run one operation with: object itself (*lane 0, or -1
 * when every lane is busy: the operation queues there), or its twin on a
 * free lane. A lane that cannot be had (no instance, the token or login
 * failing there) costs nothing but the attempt: the object itself is
 * used, and the lane is tried again after a while. Never raises. */
P11PROV_OBJECT *p11prov_lane_take(P11PROV_CTX *ctx, P11PROV_OBJECT *object,
                                  int *lane);

/* Ends the operation's claim on the lane p11prov_lane_take gave. */
void p11prov_lane_give_back(P11PROV_OBJECT *object, int lane);

#endif
