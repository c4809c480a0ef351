import { invalidParam } from '../../errors.ts';
import { userRoute, type RouteDef } from '../../http/route.ts';
import type { Services } from '../../services.ts';
import { checkRoomId } from '../rooms/routes.ts';

const V1 = '/_matrix/client/v1';

function limitParam(v: string | undefined): number {
  if (v === undefined) return 50;
  if (!/^\d{1,9}$/.test(v)) throw invalidParam('limit must be a non-negative integer.');
  return Number(v);
}

function dirParam(v: string | undefined): 'b' | 'f' {
  if (v === undefined || v === 'b' || v === 'f') return v ?? 'b';
  throw invalidParam('dir must be b or f.');
}

function boolParam(v: string | undefined, name: string): boolean {
  if (v === undefined || v === 'false') return false;
  if (v === 'true') return true;
  throw invalidParam(`${name} must be true or false.`);
}

export function relationsRoutes(s: Services): RouteDef[] {
  const list = (relType?: string, eventType?: string) =>
    userRoute('GET', `${V1}/rooms/:roomId/relations/:eventId${relType ?? ''}${eventType ?? ''}`, ({ requester, params, query }) =>
      s.relations.relations(requester, checkRoomId(params.roomId!), params.eventId!, {
        relType: params.relType,
        eventType: params.eventType,
        from: query.from,
        to: query.to,
        limit: limitParam(query.limit),
        dir: dirParam(query.dir),
        recurse: boolParam(query.recurse ?? query['org.matrix.msc3981.recurse'], 'recurse'),
      }),
    );
  return [
    list(),
    list('/:relType'),
    list('/:relType', '/:eventType'),
    userRoute('GET', `${V1}/rooms/:roomId/threads`, ({ requester, params, query }) => {
      const include = query.include ?? 'all';
      if (include !== 'all' && include !== 'participated') throw invalidParam('include must be all or participated.');
      return s.relations.threads(requester, checkRoomId(params.roomId!), { include, from: query.from, limit: limitParam(query.limit) });
    }),
  ];
}
