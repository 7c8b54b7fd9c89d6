import { Component, createElement, type ComponentChild, type FunctionComponent } from 'preact';

/**
 * A shallow-props memo without pulling in preact/compat (whose option hooks change how events
 * behave). Rows of a 1,000-request list re-render only when their own props change.
 */
export function memo<P extends object>(render: FunctionComponent<P>): FunctionComponent<P> {
  class Memo extends Component<P> {
    override shouldComponentUpdate(next: P): boolean {
      const prev = this.props as Record<string, unknown>;
      const nextProps = next as Record<string, unknown>;
      for (const key in prev) if (!(key in nextProps)) return true;
      for (const key in nextProps) if (prev[key] !== nextProps[key]) return true;
      return false;
    }
    override render(props: P): ComponentChild {
      return createElement(render, props);
    }
  }
  return Memo as unknown as FunctionComponent<P>;
}
