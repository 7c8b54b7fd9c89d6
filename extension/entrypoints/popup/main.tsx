import { render } from 'preact';
import { PopupApp } from '../../components/PopupApp.js';
import './style.css';

render(<PopupApp />, document.getElementById('app')!);
