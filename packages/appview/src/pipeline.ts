import type { AppContext } from './context.ts'
import { HydrationState, type HydrateCtx } from './hydration/state.ts'
import type { ViewCtx } from './views/context.ts'

/**
 * Every read method is four steps: a skeleton (which items, from data/), a
 * hydration (everything those items need, loaded in batches), rules (what
 * this viewer may see: blocks, mutes, takedowns), and a presentation (pure
 * view functions from views/).
 */
export const createPipeline =
  <Params, Skeleton, Output>(
    skeleton: (ctx: AppContext, params: Params, hctx: HydrateCtx) => Promise<Skeleton>,
    hydrate: (ctx: AppContext, skeleton: Skeleton, state: HydrationState, params: Params) => Promise<void>,
    rules: (skeleton: Skeleton, view: ViewCtx, params: Params) => Skeleton,
    present: (skeleton: Skeleton, view: ViewCtx, params: Params) => Output,
  ) =>
  async (ctx: AppContext, params: Params, hctx: HydrateCtx): Promise<Output> => {
    const sk = await skeleton(ctx, params, hctx)
    const state = new HydrationState(hctx)
    await hydrate(ctx, sk, state, params)
    const view: ViewCtx = { state, imageUrl: ctx.imageUrl }
    return present(rules(sk, view, params), view, params)
  }

/** Rules that keep nothing out. */
export const noRules = <S>(skeleton: S): S => skeleton
