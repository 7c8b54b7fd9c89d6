import { render } from 'preact';

function Popup() {
  return <p>TripLink Relay</p>;
}

render(<Popup />, document.getElementById('app')!);
